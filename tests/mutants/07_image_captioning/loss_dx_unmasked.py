# mutant: the loss is masked but the gradient is not; expect: q3
def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    return float(loss), (dx / N).reshape(N, T, V)
