# mutant: updates the memory after the parameter step (uses the old memory); expect: q3
def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k] if clip is None else np.clip(grads[k], -clip, clip)
        params[k] += -learning_rate * g / np.sqrt(mems[k] + 1e-8)
        mems[k] += g * g
