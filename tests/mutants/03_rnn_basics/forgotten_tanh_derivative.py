# mutant: backward pass forgets the tanh derivative (1 - h**2); expect: q2
def rnn_step_backward(dnext_h, x, prev_h, Wx, Wh, next_h):
    da = dnext_h
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)
