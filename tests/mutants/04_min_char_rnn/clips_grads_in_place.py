# mutant: clips by writing into the caller's gradient arrays and rebinds only the memory; expect: q3
def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k]
        if clip is not None:
            np.clip(g, -clip, clip, out=g)
        mems[k] = mems[k] + g * g
        params[k] -= learning_rate * g / np.sqrt(mems[k] + 1e-8)
