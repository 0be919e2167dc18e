"""`make lab` starts JupyterLab on the students' workspace: ask its REST API for the notebooks and the course kernel.

The workspace holds copies of the lectures and labs (``course workspace``), so a browser run never
rewrites the validated notebooks that nbval compares against.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_make_lab_serves_the_course(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 --IdentityProvider.token={token}"
    log = open(tmp_path / "lab.log", "w+")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    ws = tmp_path / "workspace"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}", f"WORKSPACE={ws}"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        listing = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                listing = _get(f"{base}/api/contents/lectures?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        log.seek(0)
        assert listing is not None, f"JupyterLab did not answer; its log:\n{log.read()[-3000:]}"
        names = {item["name"] for item in listing["content"]}
        assert {p.name for p in (ROOT / "lectures").glob("*.ipynb")} <= names
        labs = {item["name"] for item in _get(f"{base}/api/contents/labs?token={token}")["content"]}
        assert "03_rnn_basics_lab.ipynb" in labs
        kernels = _get(f"{base}/api/kernelspecs?token={token}")["kernelspecs"]
        assert "course-cnn-rnn" in kernels, f"course kernel not registered: {sorted(kernels)}"
        assert kernels["course-cnn-rnn"]["spec"]["display_name"] == "Python 3 (CNN & RNN course)"
        # what JupyterLab serves are the workspace copies (git-ignored by their own .gitignore)
        assert (ws / "lectures" / "03_rnn_basics.ipynb").read_bytes() == (ROOT / "lectures" / "03_rnn_basics.ipynb").read_bytes()
        assert (ws / ".gitignore").read_text().splitlines()[-1] == "*"
        # the lab frontend itself is served
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=5) as resp:
            assert resp.status == 200 and b"JupyterLab" in resp.read()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
