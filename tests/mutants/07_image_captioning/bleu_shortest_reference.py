# mutant: the brevity penalty uses the shortest reference of each sentence instead of the closest; expect: q7
def corpus_bleu(references, hypotheses, max_n=4):
    from collections import Counter

    def ngrams(tokens, n):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))

    log_sum = 0.0
    for n in range(1, max_n + 1):
        matches = total = 0
        for refs, hyp in zip(references, hypotheses):
            counts = ngrams(hyp, n)
            best = Counter()
            for ref in refs:
                best |= ngrams(ref, n)
            matches += sum(min(c, best[g]) for g, c in counts.items())
            total += sum(counts.values())
        if matches == 0:
            return 0.0
        log_sum += np.log(matches / total) / max_n
    c = sum(len(h) for h in hypotheses)
    r = sum(min(len(ref) for ref in refs) for refs in references)
    bp = 1.0 if c > r else np.exp(1 - r / c)
    return float(bp * np.exp(log_sum))
