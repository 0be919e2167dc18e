# mutant: returns the error rate (fooled fraction) instead of the accuracy; expect: q4
def accuracy_under_attack(X, y, W, b, eps_list):
    return np.array([np.mean((fgsm_linear(X, y, W, b, e) @ W + b).argmax(1) != y) for e in eps_list], dtype=float)
