# mutant: sums |grad| over channels instead of taking the maximum; expect: q3
def saliency_map(grad):
    return np.abs(grad).sum(axis=0)
