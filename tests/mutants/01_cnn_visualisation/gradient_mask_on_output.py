# mutant: the ReLU mask is taken from the upstream weights instead of the pre-activation (relu_backward(W2[c], ...)); expect: q2
def input_gradient(x, W1, b1, W2, b2, c, rule="backprop"):
    da = relu_backward(W2[c], W2[c], rule)
    return (W1.T @ da).reshape(x.shape)
