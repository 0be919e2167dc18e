# mutant: off by one: the output starts with <START> and loses the last word; expect: q5
def greedy_decode(h0, params, max_length, start=1, end=2, null=0):
    N = h0.shape[0]
    captions = np.full((N, max_length), null, dtype=np.int64)
    captions[:, 0] = start
    words, h = np.full(N, start, dtype=np.int64), h0
    done = np.zeros(N, dtype=bool)
    for t in range(1, max_length):
        log_probs, h = decoder_step(words, h, params)
        words = log_probs.argmax(axis=1)
        captions[:, t] = np.where(done, null, words)
        done |= words == end
    return captions
