# mutant: takes the most likely character instead of sampling; expect: q2
def sample(h, seed_ix, n, Wxh, Whh, Why, bh, by, temperature=1.0):
    V = Wxh.shape[1]
    x = np.zeros((V, 1))
    x[seed_ix] = 1
    ixes = []
    for _ in range(n):
        h = np.tanh(Wxh @ x + Whh @ h + bh)
        y = (Why @ h + by) / temperature
        ix = int(np.argmax(y))
        x = np.zeros((V, 1))
        x[ix] = 1
        ixes.append(ix)
    return ixes
