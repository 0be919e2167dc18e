# mutant: clips to [0, 1] but never projects back onto the eps-ball around X; expect: q5
def pgd_step(X_adv, X, y, W, b, eps, alpha):
    return fgsm_linear(X_adv, y, W, b, alpha)
