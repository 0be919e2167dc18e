# mutant: a large guard in the denominator, max_norm / (norm + 1e-2), shrinks every clipped gradient too much; expect: q1
def clip_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(np.asarray(g, dtype=float) ** 2) for g in grads)))
    scale = min(1.0, max_norm / (norm + 1e-2))
    return [np.asarray(g, dtype=float) * scale for g in grads], norm
