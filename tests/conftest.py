"""Shared fixtures for the course test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("COURSE_HEADLESS", "1")


@pytest.fixture
def course_root() -> Path:
    return ROOT


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An empty, private data cache (COURSE_DATA_DIR)."""
    d = tmp_path / "cache"
    d.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(d))
    return d
