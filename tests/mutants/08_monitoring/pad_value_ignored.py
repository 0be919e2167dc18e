# mutant: pads with zeros whatever pad_value says; expect: q2
def pad_sequences(seqs, pad_value=0.0):
    lengths = np.array([len(s) for s in seqs])
    padded = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]))
    mask = np.zeros((len(seqs), lengths.max()), dtype=bool)
    for n, s in enumerate(seqs):
        padded[n, :len(s)] = s
        mask[n, :len(s)] = True
    return padded, lengths, mask
