# mutant: guided backprop forgets the forward mask (it becomes the deconvnet rule); expect: q1
def relu_backward(f, R, rule):
    if rule == "backprop":
        return (f > 0) * R
    return (R > 0) * R
