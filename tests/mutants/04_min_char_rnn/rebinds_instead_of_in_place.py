# mutant: correct Adagrad maths, but rebinds the dict entries (params[k] = params[k] - ...) instead of updating the arrays in place; expect: q3
def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k] if clip is None else np.clip(grads[k], -clip, clip)
        mems[k] = mems[k] + g * g
        params[k] = params[k] - learning_rate * g / np.sqrt(mems[k] + 1e-8)
