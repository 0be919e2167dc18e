# mutant: counts the epoch of step s as (s + 1) // steps_per_epoch, decaying one step early; expect: q2
def learning_rates(base_lr, decay_rate, steps_per_epoch, n_steps):
    return base_lr * decay_rate ** ((np.arange(n_steps) + 1) // steps_per_epoch)
