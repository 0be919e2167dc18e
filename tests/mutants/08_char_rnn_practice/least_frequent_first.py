# mutant: sorts by count ascending (rarest character gets id 0); expect: q3
def vocab_by_frequency(text):
    from collections import Counter
    counts = Counter(text)
    chars = sorted(counts, key=lambda ch: (counts[ch], ch))
    index = {ch: i for i, ch in enumerate(chars)}
    return chars, np.array([index[ch] for ch in text], dtype=np.int64)
