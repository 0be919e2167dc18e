# mutant: always rescales to max_norm and reports the norm after clipping; expect: q1
def clip_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
    return [g * (max_norm / max(norm, 1e-12)) for g in grads], min(norm, max_norm)
