# mutant: lstm_forward returns the cell states instead of the hidden states; expect: q2
def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    out = np.zeros((N, T, h0.shape[1]))
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        out[:, t] = prev_c
    return out
