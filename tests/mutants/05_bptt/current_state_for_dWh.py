# mutant: uses h_t instead of h_{t-1} in the gradient of Wh; expect: q1
def rnn_backward(dh, x, h0, Wx, Wh, h):
    N, T, H = dh.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dnext = np.zeros((N, H))
    for t in reversed(range(T)):
        da = (dh[:, t] + dnext) * (1 - h[:, t] ** 2)
        dx[:, t] = da @ Wx.T
        dWx += x[:, t].T @ da
        dWh += h[:, t].T @ da
        db += da.sum(axis=0)
        dnext = da @ Wh.T
    return dx, dnext, dWx, dWh, db
