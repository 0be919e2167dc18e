# mutant: chunks of k + 1 steps; expect: q4
def truncated_bptt(x, h0, Wx, Wh, b, R, k):
    T = x.shape[1]
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    h_carry = h0
    for s in range(0, T, k + 1):
        xc = x[:, s:s + k + 1]
        hc = rnn_forward(xc, h_carry, Wx, Wh, b)
        _, _, gWx, gWh, gb = rnn_backward(R[:, s:s + k + 1], xc, h_carry, Wx, Wh, hc)
        dWx += gWx
        dWh += gWh
        db += gb
        h_carry = hc[:, -1]
    return dWx, dWh, db, h_carry
