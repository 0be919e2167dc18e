# mutant: occluded score minus original (the sign of the drop is flipped); expect: q4
def occlusion_map(x, W1, b1, W2, b2, c, patch, stride):
    C, H, W = x.shape
    rows, cols = range(0, H - patch + 1, stride), range(0, W - patch + 1, stride)
    base = mlp_scores(x, W1, b1, W2, b2)[c]
    out = np.zeros((len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            occluded = x.copy()
            occluded[:, r:r + patch, q:q + patch] = 0.0
            out[i, j] = mlp_scores(occluded, W1, b1, W2, b2)[c] - base
    return out
