# mutant: bias gradient summed over the wrong axis; expect: q2
def rnn_step_backward(dnext_h, x, prev_h, Wx, Wh, next_h):
    da = dnext_h * (1 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=-1)
