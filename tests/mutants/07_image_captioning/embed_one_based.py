# mutant: word ids read as 1-based (W[x - 1]); expect: q1
def word_embedding_forward(x, W):
    return W[x - 1]
