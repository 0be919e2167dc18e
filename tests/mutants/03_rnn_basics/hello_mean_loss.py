# mutant: hello model loss averaged over steps instead of summed, and output bias dropped; expect: q5
def hello_loss(text, W_xh, W_hh, W_hy, b_h, b_y):
    idx = [VOCAB.index(c) for c in text]
    h = np.zeros(W_hh.shape[0])
    losses = []
    for t in range(len(idx) - 1):
        x = np.zeros(len(VOCAB))
        x[idx[t]] = 1.0
        h = np.tanh(W_hh @ h + W_xh @ x + b_h)
        y = W_hy @ h
        log_p = y - y.max() - np.log(np.sum(np.exp(y - y.max())))
        losses.append(-log_p[idx[t + 1]])
    return float(np.mean(losses))
