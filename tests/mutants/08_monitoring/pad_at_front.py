# mutant: pre-padding (real steps at the end) instead of post-padding; expect: q2
def pad_sequences(seqs, pad_value=0.0):
    lengths = np.array([len(s) for s in seqs])
    T = lengths.max()
    padded = np.full((len(seqs), T, seqs[0].shape[1]), pad_value, dtype=float)
    mask = np.zeros((len(seqs), T), dtype=bool)
    for n, s in enumerate(seqs):
        padded[n, T - len(s):] = s
        mask[n, T - len(s):] = True
    return padded, lengths, mask
