# mutant: searches the cumulative sum with side="left", so a boundary value picks the slice below (or a zero weight); expect: q1
def weighted_pick(weights, u):
    c = np.cumsum(weights)
    return int(min(np.searchsorted(c, u * c[-1], side="left"), len(c) - 1))
