# mutant: projects onto the L2 ball of radius eps (rescaling each row's perturbation) instead of the L-inf ball; expect: q5
def pgd_step(X_adv, X, y, W, b, eps, alpha):
    d = fgsm_linear(X_adv, y, W, b, alpha) - X
    n = np.linalg.norm(d, axis=1, keepdims=True)
    return np.clip(X + d * np.minimum(1.0, eps / np.maximum(n, 1e-12)), 0.0, 1.0)
