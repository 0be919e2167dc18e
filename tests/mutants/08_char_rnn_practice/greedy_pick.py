# mutant: always takes the heaviest character (greedy argmax) instead of sampling; expect: q1
def weighted_pick(weights, u):
    return int(np.argmax(weights))
