# mutant: sign error on the recurrent term; expect: q1
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return np.tanh(x @ Wx - prev_h @ Wh + b)
