# mutant: right values, but the upstream gradient R is zeroed in place (R[mask] = 0) and returned; expect: q1
def relu_backward(f, R, rule):
    if rule in ("backprop", "guided"):
        R[f <= 0] = 0
    if rule in ("deconvnet", "guided"):
        R[R < 0] = 0
    return R
