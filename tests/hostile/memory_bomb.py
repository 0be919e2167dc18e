def add_one(x):
    hog = []
    while True:
        hog.append(bytearray(256 * 1024 * 1024))


def norm(x):
    return float(np.ones((200_000, 200_000)).sum())
