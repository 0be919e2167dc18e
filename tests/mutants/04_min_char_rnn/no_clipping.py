# mutant: never clips the gradients; expect: q3
def adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0):
    for k in params:
        g = grads[k]
        mems[k] += g * g
        params[k] += -learning_rate * g / np.sqrt(mems[k] + 1e-8)
