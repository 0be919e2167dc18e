# mutant: the first epoch already runs at the decayed rate (exponent epoch + 1); expect: q2
def learning_rates(base_lr, decay_rate, steps_per_epoch, n_steps):
    return base_lr * decay_rate ** (np.arange(n_steps) // steps_per_epoch + 1)
