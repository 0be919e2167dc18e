# mutant: the cell state forgets everything (c_t = i * g, no f * c_{t-1}); expect: q1
def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    next_c = i * g
    return o * np.tanh(next_c), next_c
