# mutant: <END> does not stop a caption (words keep coming after it); expect: q5
def greedy_decode(h0, params, max_length, start=1, end=2, null=0):
    N = h0.shape[0]
    captions = np.full((N, max_length), null, dtype=np.int64)
    words, h = np.full(N, start, dtype=np.int64), h0
    for t in range(max_length):
        log_probs, h = decoder_step(words, h, params)
        words = log_probs.argmax(axis=1)
        captions[:, t] = words
    return captions
