# mutant: subtracts the nudge, x - eps * sign(w), pushing toward class 0; expect: q1
def toy_attack(x, w, b, eps):
    x_adv = x - eps * np.sign(w)
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    return x_adv, float(sig(x @ w + b)), float(sig(x_adv @ w + b))
