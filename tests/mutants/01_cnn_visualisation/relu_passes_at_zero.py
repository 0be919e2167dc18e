# mutant: f >= 0 lets gradient through where the ReLU's input is exactly zero; expect: q1
def relu_backward(f, R, rule):
    if rule == "backprop":
        return (f >= 0) * R
    if rule == "deconvnet":
        return (R > 0) * R
    return (f >= 0) * (R > 0) * R
