# mutant: the deconvnet rule keeps the forward mask (f > 0) instead of the gradient's sign; expect: q1
def relu_backward(f, R, rule):
    if rule == "backprop":
        return (f > 0) * R
    if rule == "deconvnet":
        return (f > 0) * R
    return (f > 0) * (R > 0) * R
