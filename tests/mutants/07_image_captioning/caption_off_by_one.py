# mutant: off-by-one between inputs and targets (predicts the word it reads); expect: q4
def captioning_loss(features, captions, W_proj, b_proj, W_embed, Wx, Wh, b, W_vocab, b_vocab):
    captions_in, captions_out = captions[:, :-1], captions[:, :-1]
    h = features @ W_proj + b_proj
    x = word_embedding_forward(captions_in, W_embed)
    hs = np.zeros((x.shape[0], x.shape[1], h.shape[1]))
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, Wx, Wh, b)
        hs[:, t] = h
    scores = hs @ W_vocab + b_vocab
    loss, _ = temporal_softmax_loss(scores, captions_out, captions_out != 0)
    return float(loss)
