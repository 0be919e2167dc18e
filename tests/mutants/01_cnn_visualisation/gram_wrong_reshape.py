# mutant: reshapes (C, H, W) to (C*H, W): correlations of rows, not of channels; expect: q6
def gram_matrix(F):
    C, H, W = F.shape
    Fm = F.reshape(C * H, W)
    G = Fm @ Fm.T / W
    return G[::H, ::H]
