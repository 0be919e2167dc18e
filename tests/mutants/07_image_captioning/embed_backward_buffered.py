# mutant: dW[x] += dout, which counts a repeated word only once; expect: q2
def word_embedding_backward(dout, x, V):
    dW = np.zeros((V, dout.shape[2]))
    dW[x] += dout
    return dW
