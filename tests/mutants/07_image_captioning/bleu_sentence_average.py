# mutant: averages sentence-level BLEU instead of pooling counts over the corpus; expect: q7
def corpus_bleu(references, hypotheses, max_n=4):
    from collections import Counter

    def ngrams(tokens, n):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    scores = []
    for refs, hyp in zip(references, hypotheses):
        log_sum, zero = 0.0, False
        for n in range(1, max_n + 1):
            counts = ngrams(hyp, n)
            best = Counter()
            for ref in refs:
                best |= ngrams(ref, n)
            matches = sum(min(c, best[g]) for g, c in counts.items())
            total = sum(counts.values())
            if matches == 0:
                zero = True
                break
            log_sum += np.log(matches / total) / max_n
        c, r = len(hyp), min((abs(len(ref) - len(hyp)), len(ref)) for ref in refs)[1]
        bp = 1.0 if c > r else np.exp(1 - r / c)
        scores.append(0.0 if zero else bp * np.exp(log_sum))
    return float(np.mean(scores))
