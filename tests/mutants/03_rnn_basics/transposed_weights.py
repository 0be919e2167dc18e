# mutant: transposed recurrent weights (Wh.T instead of Wh); expect: q1
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return np.tanh(x @ Wx + prev_h @ Wh.T + b)
