# mutant: truncated BPTT restarts every chunk from h0 instead of carrying the state; expect: q4
def truncated_bptt(x, h0, Wx, Wh, b, R, k):
    T = x.shape[1]
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    hc = None
    for s in range(0, T, k):
        xc = x[:, s:s + k]
        hc = rnn_forward(xc, h0, Wx, Wh, b)
        _, _, gWx, gWh, gb = rnn_backward(R[:, s:s + k], xc, h0, Wx, Wh, hc)
        dWx += gWx
        dWh += gWh
        db += gb
    return dWx, dWh, db, hc[:, -1]
