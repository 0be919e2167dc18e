# mutant: F F^T without dividing by the number of positions H*W; expect: q6
def gram_matrix(F):
    Fm = F.reshape(F.shape[0], -1)
    return Fm @ Fm.T
