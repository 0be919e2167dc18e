# mutant: the ReLU is forgotten on the way back (gradient of a linear network); expect: q2
def input_gradient(x, W1, b1, W2, b2, c, rule="backprop"):
    return (W1.T @ W2[c]).reshape(x.shape)
