# mutant: bidirectional layer forgets to flip the backward states back into time order; expect: q4
def birnn_forward(x, h0_fwd, h0_bwd, Wx_f, Wh_f, b_f, Wx_b, Wh_b, b_b):
    h_fwd = rnn_forward(x, h0_fwd, Wx_f, Wh_f, b_f)
    h_bwd = rnn_forward(x[:, ::-1, :], h0_bwd, Wx_b, Wh_b, b_b)
    return np.concatenate([h_fwd, h_bwd], axis=2)
