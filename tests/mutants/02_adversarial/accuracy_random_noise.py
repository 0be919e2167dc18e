# mutant: adds random-sign noise of size eps instead of the FGSM perturbation; expect: q4
def accuracy_under_attack(X, y, W, b, eps_list):
    accs = []
    for e in eps_list:
        X_noisy = np.clip(X + e * np.sign(np.random.randn(*X.shape)), 0, 1)
        accs.append(np.mean((X_noisy @ W + b).argmax(1) == y))
    return np.array(accs)
