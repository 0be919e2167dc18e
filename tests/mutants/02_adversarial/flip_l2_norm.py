# mutant: divides by ||w||_2 (the L2 distance to the boundary) instead of ||w||_1; expect: q2
def min_flip_eps(x, w, b):
    return float(abs(x @ w + b) / np.linalg.norm(w))
