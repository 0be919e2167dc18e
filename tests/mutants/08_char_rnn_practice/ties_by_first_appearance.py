# mutant: Counter.most_common order -- ties broken by first appearance, not by character; expect: q3
def vocab_by_frequency(text):
    from collections import Counter
    chars = [ch for ch, _ in Counter(text).most_common()]
    index = {ch: i for i, ch in enumerate(chars)}
    return chars, np.array([index[ch] for ch in text], dtype=np.int64)
