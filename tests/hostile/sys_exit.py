import os
import sys


def add_one(x):
    sys.exit(0)


def norm(x):
    os._exit(0)


def sgd_step(w, g, lr):
    raise SystemExit("done")


class Bye:  # exits while the definitions load
    os._exit(3)
