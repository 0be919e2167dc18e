# mutant: always does full BPTT, whatever k is; expect: q4
def truncated_bptt(x, h0, Wx, Wh, b, R, k):
    h = rnn_forward(x, h0, Wx, Wh, b)
    _, _, dWx, dWh, db = rnn_backward(R, x, h0, Wx, Wh, h)
    return dWx, dWh, db, h[:, -1]
