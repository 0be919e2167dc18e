def add_one(x):
    while True:
        pass


class Spin:  # a class body runs while the notebook's definitions load: it must not stall grading
    while True:
        pass


def norm(x):
    return 1.0  # wrong on purpose: this file only tests containment of the loops
