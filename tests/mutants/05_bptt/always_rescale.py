# mutant: rescales to max_norm even when the norm is already smaller, and reports the norm after clipping; expect: q3
def clip_by_global_norm(grads, max_norm):
    norm = float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))
    out = {k: g * (max_norm / max(norm, 1e-12)) for k, g in grads.items()}
    return out, min(norm, max_norm)
