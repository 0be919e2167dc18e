# mutant: clips each array by its own norm instead of the global norm; expect: q1
def clip_by_global_norm(grads, max_norm):
    out = []
    for g in grads:
        n = np.linalg.norm(g)
        out.append(g * (max_norm / n) if n > max_norm else g)
    return out, float(np.sqrt(sum(np.sum(g ** 2) for g in grads)))
