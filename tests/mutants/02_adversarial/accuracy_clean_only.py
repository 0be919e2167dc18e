# mutant: measures the clean accuracy for every budget (forgets to attack); expect: q4
def accuracy_under_attack(X, y, W, b, eps_list):
    return np.array([np.mean((X @ W + b).argmax(1) == y) for _ in eps_list], dtype=float)
