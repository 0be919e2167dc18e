# mutant: multiplies by the decay rate at every step instead of once per epoch; expect: q2
def learning_rates(base_lr, decay_rate, steps_per_epoch, n_steps):
    return base_lr * decay_rate ** np.arange(n_steps)
