"""The Makefile stops with a clear message when .venv/ (or PYTHON) is not Python 3.11."""

from __future__ import annotations

import subprocess

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_wrong_python_venv_is_named(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    fake = venv / "bin" / "python"
    fake.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Python 3.12.3"; exit 0; fi\nexit 1\n')
    fake.chmod(0o755)
    res = _make("test", f"VENV={venv}")
    assert res.returncode != 0
    assert f"{venv}/ was built with Python 3.12.3, not Python 3.11" in res.stdout
    assert "make clean" in res.stdout and "PYTHON=/path/to/python3.11" in res.stdout
    fake.unlink()                                       # a venv whose Python is gone
    assert "a Python that no longer runs" in _make("setup", f"VENV={venv}").stdout


def test_missing_python_is_named(tmp_path):
    res = _make("setup", f"VENV={tmp_path / 'none'}", "PYTHON=python3.9-not-here")
    assert res.returncode != 0 and "'python3.9-not-here' is not installed" in res.stdout


def test_good_venv_is_quiet():
    assert _make("-q", "setup").returncode == 0
