# mutant: divides by the dimension D (as if every |w_i| were 1); expect: q2
def min_flip_eps(x, w, b):
    return float(abs(x @ w + b) / len(w))
