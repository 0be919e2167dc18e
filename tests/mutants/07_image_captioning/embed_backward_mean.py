# mutant: averages the gradients of a word instead of summing them; expect: q2
def word_embedding_backward(dout, x, V):
    dW = np.zeros((V, dout.shape[2]))
    counts = np.zeros(V)
    np.add.at(dW, x, dout)
    np.add.at(counts, x, 1)
    return dW / np.maximum(counts, 1)[:, None]
