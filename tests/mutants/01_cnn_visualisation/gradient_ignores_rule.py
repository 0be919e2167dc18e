# mutant: input_gradient always uses the plain ReLU derivative, whatever the rule; expect: q2
def input_gradient(x, W1, b1, W2, b2, c, rule="backprop"):
    a = W1 @ x.ravel() + b1
    return (W1.T @ ((a > 0) * W2[c])).reshape(x.shape)
