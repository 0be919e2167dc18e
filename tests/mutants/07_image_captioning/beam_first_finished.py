# mutant: stops at the first hypothesis that reaches <END> and returns it, not the best one; expect: q6
def beam_search(h0, params, width, max_length, start=1, end=2):
    live_words, live_scores = [[]], np.zeros(1)
    h = h0[None, :]
    for _ in range(max_length):
        last = np.array([w[-1] if w else start for w in live_words])
        log_probs, h = decoder_step(last, h, params)
        scores = (live_scores[:, None] + log_probs).ravel()
        V = log_probs.shape[1]
        rows, new_words, new_scores = [], [], []
        for flat in np.argsort(-scores, kind="stable")[:width]:
            row, word = divmod(int(flat), V)
            if word == end:
                return np.array(live_words[row] + [word]), float(scores[flat])
            rows.append(row)
            new_words.append(live_words[row] + [word])
            new_scores.append(float(scores[flat]))
        h = h[rows]
        live_words, live_scores = new_words, np.array(new_scores)
    k = int(np.argmax(live_scores))
    return np.array(live_words[k]), float(live_scores[k])
