# mutant: forgets the absolute value, so a negative score gives a negative budget; expect: q2
def min_flip_eps(x, w, b):
    return float((x @ w + b) / np.abs(w).sum())
