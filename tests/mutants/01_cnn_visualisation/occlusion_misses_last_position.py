# mutant: range(0, H - patch, stride) misses the last position where the square still fits; expect: q4
def occlusion_map(x, W1, b1, W2, b2, c, patch, stride):
    C, H, W = x.shape
    rows, cols = range(0, max(H - patch, 1), stride), range(0, max(W - patch, 1), stride)
    base = mlp_scores(x, W1, b1, W2, b2)[c]
    out = np.zeros((len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            occluded = x.copy()
            occluded[:, r:r + patch, q:q + patch] = 0.0
            out[i, j] = base - mlp_scores(occluded, W1, b1, W2, b2)[c]
    return out
