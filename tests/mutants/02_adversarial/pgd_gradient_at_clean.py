# mutant: takes the gradient at the clean X instead of the current X_adv; expect: q5
def pgd_step(X_adv, X, y, W, b, eps, alpha):
    step = fgsm_linear(X, y, W, b, alpha) - X
    Z = X_adv + alpha * np.sign(step)
    return np.clip(np.clip(Z, X - eps, X + eps), 0.0, 1.0)
