# mutant: <END> does not finish a hypothesis: it stays in the beam and keeps growing; expect: q6
def beam_search(h0, params, width, max_length, start=1, end=2):
    live_words, live_scores = [[]], np.zeros(1)
    h = h0[None, :]
    for _ in range(max_length):
        last = np.array([w[-1] if w else start for w in live_words])
        log_probs, h = decoder_step(last, h, params)
        scores = (live_scores[:, None] + log_probs).ravel()
        V = log_probs.shape[1]
        best = np.argsort(-scores, kind="stable")[:width]
        rows = [int(f) // V for f in best]
        live_words = [live_words[int(f) // V] + [int(f) % V] for f in best]
        live_scores = scores[best]
        h = h[rows]
    k = int(np.argmax(live_scores))
    words = live_words[k]
    if end in words:
        words = words[:words.index(end) + 1]
    return np.array(words), float(live_scores[k])
