import numpy as np


def add_one(x):
    return np.full_like(x, np.nan)


def norm(x):
    return float("inf")


def sgd_step(w, g, lr):
    w[:] = np.nan
