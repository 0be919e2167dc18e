# mutant: the <NULL> mask is ignored (padding counts in the loss); expect: q3, q4
def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    yf = y.reshape(N * T)
    loss = -np.sum(log_probs[np.arange(N * T), yf]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    return float(loss), (dx / N).reshape(N, T, V)


def captioning_loss(features, captions, W_proj, b_proj, W_embed, Wx, Wh, b, W_vocab, b_vocab):
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    h = features @ W_proj + b_proj
    x = W_embed[captions_in]
    hs = np.zeros((x.shape[0], x.shape[1], h.shape[1]))
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, Wx, Wh, b)
        hs[:, t] = h
    scores = hs @ W_vocab + b_vocab
    loss, _ = temporal_softmax_loss(scores, captions_out, np.ones(captions_out.shape, dtype=bool))
    return float(loss)
