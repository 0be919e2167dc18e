def add_one(x)
    return x + 1.0


def norm(x):
    return float(np.sqrt(np.sum(x ** 2))
