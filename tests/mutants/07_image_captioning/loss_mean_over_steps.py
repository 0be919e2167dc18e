# mutant: averages over all N*T steps instead of summing over time and averaging over N; expect: q3
def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / (N * T)
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    dx *= mf[:, None] / (N * T)
    return float(loss), dx.reshape(N, T, V)
