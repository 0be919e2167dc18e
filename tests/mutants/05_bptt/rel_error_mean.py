# mutant: relative error averaged instead of the maximum, without the 1e-8 floor; expect: q2
def rel_error(x, y):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.mean(np.abs(x - y) / (np.abs(x) + np.abs(y) + 1e-12)))
