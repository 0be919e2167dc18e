# mutant: indexes step lengths[n] instead of lengths[n] - 1 (clamped to stay in range); expect: q3
def last_valid_state(h, lengths):
    idx = np.minimum(np.asarray(lengths), h.shape[1] - 1)
    return h[np.arange(h.shape[0]), idx]
