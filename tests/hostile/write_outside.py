import os


def add_one(x):
    written = 0
    for target in ["__MARKER__", "__ROOT__/PWNED_BY_STUDENT", os.path.expanduser("~/PWNED_BY_STUDENT"),
                   "/etc/PWNED_BY_STUDENT"]:
        try:
            with open(target, "w") as f:
                f.write("pwned")
            written += 1
        except OSError:
            pass
    try:  # a file larger than the file-size limit
        with open("big.bin", "wb") as f:
            f.write(b"\0" * (200 * 1024 * 1024))
    except OSError:
        pass
    return x + 1.0 if os.path.exists("__MARKER__") else x  # only correct if the write escaped
