# mutant: BPTT without the gradient flowing back from the next step; expect: q1
def rnn_backward(dh, x, h0, Wx, Wh, h):
    N, T, H = dh.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    for t in reversed(range(T)):
        prev = h[:, t - 1] if t > 0 else h0
        da = dh[:, t] * (1 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += prev.T @ da
        db += da.sum(axis=0)
    return dx, da @ Wh.T, dWx, dWh, db
