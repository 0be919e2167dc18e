# mutant: beam scores not length-consistent: finished hypotheses are ranked by their mean log-probability per word, live ones by the sum; expect: q6
def beam_search(h0, params, width, max_length, start=1, end=2):
    live_words, live_scores = [[]], np.zeros(1)
    h = h0[None, :]
    finished = []
    for _ in range(max_length):
        last = np.array([w[-1] if w else start for w in live_words])
        log_probs, h = decoder_step(last, h, params)
        scores = (live_scores[:, None] + log_probs).ravel()
        V = log_probs.shape[1]
        rows, new_words, new_scores = [], [], []
        for flat in np.argsort(-scores, kind="stable")[:width]:
            row, word = divmod(int(flat), V)
            words = live_words[row] + [word]
            if word == end:
                finished.append((words, float(scores[flat]) / len(words)))
            else:
                rows.append(row)
                new_words.append(words)
                new_scores.append(float(scores[flat]))
        if not rows:
            break
        h = h[rows]
        live_words, live_scores = new_words, np.array(new_scores)
        if finished and max(s for _, s in finished) >= live_scores.max():
            break
    else:
        finished += list(zip(live_words, live_scores.tolist()))
    words, score = max(finished, key=lambda ws: ws[1])
    return np.array(words), score * (len(words) if words[-1] == end else 1)
