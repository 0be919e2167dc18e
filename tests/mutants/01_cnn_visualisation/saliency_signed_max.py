# mutant: max over channels of the signed gradient (no absolute value); expect: q3
def saliency_map(grad):
    return grad.max(axis=0)
