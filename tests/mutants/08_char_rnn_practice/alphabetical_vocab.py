# mutant: sorted characters (min-char-rnn's vocabulary), ignoring the counts; expect: q3
def vocab_by_frequency(text):
    chars = sorted(set(text))
    index = {ch: i for i, ch in enumerate(chars)}
    return chars, np.array([index[ch] for ch in text], dtype=np.int64)
