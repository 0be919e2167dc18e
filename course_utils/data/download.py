"""Cached, checksummed, atomic downloads.

A file is written to ``<cache>/<name>.part-XXXX`` first, its SHA-256 checked, and only then
renamed to its final name, so a corrupted or interrupted download never leaves a file that
looks valid. The cache lives in ``data/cache/`` of the course folder, or in
``$COURSE_DATA_DIR`` when that is set.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["ChecksumError", "cache_dir", "sha256_file", "download_file", "install_file"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


class ChecksumError(ValueError):
    """The bytes we got are not the bytes we expected."""


def cache_dir() -> Path:
    """The data cache: ``$COURSE_DATA_DIR`` if set, else ``data/cache`` in the course folder.

    Falls back to ``~/.cache/course_utils`` when the package is installed outside the course folder.
    """
    env = os.environ.get("COURSE_DATA_DIR")
    if env:
        path = Path(env).expanduser()
    elif (_REPO_ROOT / "pyproject.toml").exists():
        path = _REPO_ROOT / "data" / "cache"
    else:
        path = Path.home() / ".cache" / "course_utils"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _atomic_copy_verified(src_stream, dest: Path, sha256: str, total: int | None, desc: str, progress: bool) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".part-", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=desc, disable=not progress, leave=False
        ) as bar:
            while block := src_stream.read(1 << 16):
                h.update(block)
                out.write(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise ChecksumError(
                f"checksum mismatch for {dest.name}: expected sha256 {sha256}, got {digest}. "
                "The file was not saved; the source is corrupted or is a different file."
            )
        os.replace(tmp, dest)
        return dest
    finally:
        if tmp.exists():
            tmp.unlink()


def download_file(url: str, dest: str | Path, sha256: str, *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` with a progress bar, verify its SHA-256, write atomically.

    Returns ``dest``. Raises :class:`ChecksumError` on a mismatch (no file is left behind) and
    ``urllib.error.URLError`` / ``OSError`` when the network is unreachable.
    """
    dest = Path(dest)
    req = urllib.request.Request(url, headers={"User-Agent": "course-utils"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        return _atomic_copy_verified(resp, dest, sha256, total, desc=dest.name, progress=progress)


def install_file(src: str | Path, dest: str | Path, sha256: str) -> Path:
    """Copy a local file into the cache after checking its SHA-256 (atomic, nothing left on failure)."""
    src = Path(src).expanduser()
    if not src.is_file():
        raise FileNotFoundError(f"{src} does not exist or is not a file")
    with open(src, "rb") as f:
        return _atomic_copy_verified(f, Path(dest), sha256, src.stat().st_size, desc=Path(dest).name, progress=False)


