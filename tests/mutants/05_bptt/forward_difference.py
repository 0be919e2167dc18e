# mutant: one-sided difference (f(x + h) - f(x)) / h instead of the centred one; expect: q2
def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros_like(x, dtype=float)
    fx = f()
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        grad[ix] = (f() - fx) / h
        x[ix] = old
    return grad
