# mutant: divides by the number of channels C instead of H*W; expect: q6
def gram_matrix(F):
    C = F.shape[0]
    Fm = F.reshape(C, -1)
    return Fm @ Fm.T / C
