# mutant: off-by-one in time (stores the hidden state from before each step); expect: q3
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev_h = h0
    for t in range(T):
        h[:, t, :] = prev_h
        prev_h = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
    return h
