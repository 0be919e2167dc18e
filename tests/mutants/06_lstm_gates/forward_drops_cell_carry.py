# mutant: lstm_forward passes the hidden state as the cell state (prev_c = prev_h) instead of carrying c; expect: q2
def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        prev_c = prev_h
        h[:, t] = prev_h
    return h
