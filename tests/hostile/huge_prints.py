import os
import sys


def add_one(x):
    line = "spam " * 20_000
    while True:
        print(line)
        sys.stderr.write(line)
        os.write(1, line.encode())
        os.write(2, line.encode())


def norm(x):
    print("x" * 50_000_000)
    return 0.0
