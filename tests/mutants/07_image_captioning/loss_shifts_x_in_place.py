# mutant: stabilises the softmax with x -= x.max(...), which changes the caller's scores in place; expect: q3
def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    x -= x.max(axis=2, keepdims=True)
    flat = x.reshape(N * T, V)
    log_probs = flat - np.log(np.exp(flat).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    dx *= mf[:, None] / N
    return float(loss), dx.reshape(N, T, V)
