# mutant: forgets the (N, T) layout and returns (N*T, D); expect: q1
def word_embedding_forward(x, W):
    return W[x.ravel()]
