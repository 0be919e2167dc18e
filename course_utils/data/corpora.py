"""Text corpora for the character-level models.

* ``shakespeare`` -- tinyshakespeare (1,115,394 characters, 65 symbols), cached with a checksum.
* ``python``      -- 1,000,000 characters of the Python 3.11 standard library's own sources (shipped, PSF licence).
* ``c``           -- SQLite's ``select.c`` (334,028 characters of C, public domain; shipped).

The code corpora ship in ``data/corpora/`` (gzip, SHA-256 checked), so every machine -- Linux, macOS or Windows,
whatever its Python patch release or its ``/usr/include`` -- trains on the same characters.
:func:`build_code_corpus` is how they were made: it reads this machine's own files (``python``: the standard
library in sorted order; ``c``: any folder of C sources), ASCII files only, tabs expanded.
"""

from __future__ import annotations

import gzip
import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

from .download import cache_dir, download_file, install_file, sha256_file

__all__ = ["CorpusNotAvailable", "CorpusSpec", "CORPORA", "corpus_names", "corpus_path",
           "fetch_corpus", "add_corpus", "load_corpus", "load_code_corpus", "build_code_corpus"]


class CorpusNotAvailable(FileNotFoundError):
    """A corpus is neither cached nor downloadable right now."""


@dataclass(frozen=True)
class CorpusSpec:
    """A downloadable corpus: where it comes from, where it is cached, what its bytes hash to."""
    name: str
    url: str
    filename: str
    sha256: str
    n_chars: int


CORPORA: dict[str, CorpusSpec] = {
    "shakespeare": CorpusSpec(
        name="shakespeare",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        filename="tinyshakespeare.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        n_chars=1_115_394,
    ),
}
# name -> (file in data/corpora/, SHA-256 of the uncompressed text, number of characters)
CODE_CORPORA: dict[str, tuple[str, str, int]] = {
    "python": ("python-stdlib.txt.gz", "08387771051813be326c25f8d41b15e4805a30305a5ca0501bd9c2c89413c4b6", 1_000_000),
    "c": ("c-sqlite-select.txt.gz", "943070ad5fcdd2a56b7e21bb29e7ef1b9eb07602ff34f8960e02ebf17dead923", 334_028),
}
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "data" / "corpora"


def corpus_names() -> list[str]:
    """Names accepted by :func:`load_corpus`."""
    return sorted(CORPORA) + list(CODE_CORPORA)


def _spec(name: str) -> CorpusSpec:
    if name not in CORPORA:
        raise ValueError(f"unknown downloadable corpus {name!r}; known: {sorted(CORPORA)}")
    return CORPORA[name]


def corpus_path(name: str) -> Path:
    """Where corpus ``name`` lives in the cache (it may not exist yet)."""
    return cache_dir() / _spec(name).filename


def _missing_message(spec: CorpusSpec, reason: str) -> str:
    return (
        f"The {spec.name} corpus is not in the data cache ({cache_dir() / spec.filename}) and {reason}.\n"
        f"Do one of these:\n"
        f"  course data fetch {spec.name}        # download it from {spec.url}\n"
        f"  course data add {spec.name} PATH     # register a local copy of {spec.filename} (checksum verified)"
    )


def fetch_corpus(name: str, url: str | None = None, progress: bool = True, force: bool = False) -> Path:
    """Download corpus ``name`` into the cache (verifying its SHA-256) and return its path.

    A cached copy whose checksum matches is kept as it is unless ``force`` is true.
    """
    spec = _spec(name)
    dest = cache_dir() / spec.filename
    if dest.exists() and not force and sha256_file(dest) == spec.sha256:
        return dest
    try:
        return download_file(url or spec.url, dest, spec.sha256, progress=progress)
    except (URLError, TimeoutError, ConnectionError) as exc:
        raise CorpusNotAvailable(_missing_message(spec, f"downloading it failed ({exc})")) from exc


def add_corpus(name: str, path: str | Path) -> Path:
    """Register a local copy of corpus ``name``: checksum verified, copied atomically into the cache."""
    spec = _spec(name)
    return install_file(path, cache_dir() / spec.filename, spec.sha256)


def load_corpus(name: str, *, download: bool = True, max_chars: int | None = None) -> str:
    """Return the text of corpus ``name`` (see :func:`corpus_names`).

    For ``shakespeare`` the cached copy is used (its checksum is checked); if it is missing and
    ``download`` is true it is fetched. With no cache and no network this raises
    :class:`CorpusNotAvailable` naming the two ways to fix it.
    """
    if name in CODE_CORPORA:
        return load_code_corpus(name, max_chars=max_chars or 1_000_000)
    spec = _spec(name)
    path = cache_dir() / spec.filename
    if not path.exists():
        if not download:
            raise CorpusNotAvailable(_missing_message(spec, "downloading was not allowed"))
        fetch_corpus(name)
    elif sha256_file(path) != spec.sha256:
        raise CorpusNotAvailable(_missing_message(
            spec, "the cached file does not match its checksum (delete it and fetch again)"))
    text = path.read_text(encoding="utf-8")
    return text[:max_chars] if max_chars else text


def _code_files(name: str, root: Path | None = None) -> list[Path]:
    if name == "python":
        root = root or Path(sysconfig.get_paths()["stdlib"])
        files = [p for p in root.rglob("*.py")
                 if not ({"test", "tests", "idle_test", "site-packages", "lib2to3"} & set(p.relative_to(root).parts))]
    elif name == "c":
        root = root or Path("/usr/include")
        files = [p for p in root.rglob("*.[ch]")] if root.is_dir() else []
    else:
        raise ValueError(f"unknown code corpus {name!r}; known: {list(CODE_CORPORA)}")
    return sorted(files)


def build_code_corpus(name: str, max_chars: int = 1_000_000, root: str | Path | None = None) -> str:
    """Concatenate this machine's ASCII source files of kind ``name`` in sorted order, up to ``max_chars``.

    ``python`` reads the standard library (tests excluded) unless ``root`` names another folder; ``c`` reads the
    ``.c``/``.h`` files under ``root`` (default ``/usr/include``). Tabs are expanded to 4 spaces so indentation is
    visible to a character model. The result depends on the machine; the course trains on the shipped corpora
    (:func:`load_code_corpus`). Raises :class:`CorpusNotAvailable` when no such files exist.
    """
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    parts: list[str] = []
    total = 0
    for path in _code_files(name, Path(root) if root is not None else None):
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        if not raw or not raw.isascii() or len(raw) > 200_000:
            continue
        text = raw.decode("ascii").replace("\r\n", "\n").expandtabs(4)
        if not text.endswith("\n"):
            text += "\n"
        parts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    if not parts:
        raise CorpusNotAvailable(f"no {name} source files were found on this machine to build the {name!r} corpus")
    return "".join(parts)[:max_chars]


def load_code_corpus(name: str, max_chars: int = 1_000_000) -> str:
    """The shipped code corpus ``name`` (``"python"`` or ``"c"``), its first ``max_chars`` characters.

    Read from ``data/corpora/`` and checked against its SHA-256; the same text on every machine.
    """
    if name not in CODE_CORPORA:
        raise ValueError(f"unknown code corpus {name!r}; known: {list(CODE_CORPORA)}")
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    filename, sha256, n_chars = CODE_CORPORA[name]
    path = SHIPPED_DIR / filename
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorpusNotAvailable(f"the shipped {name} corpus {path} cannot be read ({exc}); restore it from the "
                                 f"course repository (git checkout -- data/corpora)") from exc
    if hashlib.sha256(data).hexdigest() != sha256:
        raise CorpusNotAvailable(f"the shipped {name} corpus {path} does not match its checksum; restore it from the "
                                 f"course repository (git checkout -- data/corpora)")
    return data.decode("ascii")[:max_chars]
