# mutant: nudges by eps * w instead of eps * sign(w) (the same on the slides' +-1 weights); expect: q1
def toy_attack(x, w, b, eps):
    x_adv = x + eps * w
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    return x_adv, float(sig(x @ w + b)), float(sig(x_adv @ w + b))
