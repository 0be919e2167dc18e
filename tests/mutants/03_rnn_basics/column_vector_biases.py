# mutant: the hello model written with column vectors (H, 1) although the biases are 1-D (H,): broadcasting makes (H, H) states; expect: q5
def hello_loss(text, W_xh, W_hh, W_hy, b_h, b_y):
    idx = [VOCAB.index(c) for c in text]
    h = np.zeros((W_hh.shape[0], 1))
    loss = 0.0
    for t in range(len(idx) - 1):
        x = np.zeros((len(VOCAB), 1))
        x[idx[t]] = 1.0
        h = np.tanh(W_hh @ h + W_xh @ x + b_h)
        y = W_hy @ h + b_y
        log_p = y - y.max() - np.log(np.sum(np.exp(y - y.max())))
        loss -= float(np.ravel(log_p)[idx[t + 1]])
    return float(loss)
