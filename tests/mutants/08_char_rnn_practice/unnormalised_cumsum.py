# mutant: compares u with the unnormalised cumulative sum (forgets to scale by the total); expect: q1
def weighted_pick(weights, u):
    c = np.cumsum(weights)
    return int(min(np.searchsorted(c, u, side="right"), len(c) - 1))
