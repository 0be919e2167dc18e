"""Character vocabularies, encoding/decoding, train/val split and (B, T) window batches."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["CharVocab", "train_val_split", "batch_windows"]


class CharVocab:
    """A bijection between characters and integer ids ``0..V-1`` (sorted characters).

    >>> v = CharVocab.from_text("hello")
    >>> v.chars, v.encode("hell").tolist(), v.decode([3, 2])
    (['e', 'h', 'l', 'o'], [1, 0, 2, 2], 'ol')
    """

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        if not chars:
            raise ValueError("a vocabulary needs at least one character (is the corpus empty?)")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("vocabulary characters must be unique")
        self.chars: list[str] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        """Build the vocabulary of the distinct characters of ``text``, sorted."""
        if not text:
            raise ValueError("cannot build a vocabulary from empty text: the corpus is empty")
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharVocab(V={len(self)}, chars={''.join(self.chars)[:40]!r}{'...' if len(self) > 40 else ''})"

    def encode(self, text: str) -> np.ndarray:
        """Map a string to ids, shape (len(text),) int64. Unknown characters raise ``ValueError``."""
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError:
            unknown = sorted({c for c in text if c not in self.stoi})
            pos = next(i for i, c in enumerate(text) if c not in self.stoi)
            raise ValueError(
                f"text contains {len(unknown)} character(s) not in the vocabulary: "
                f"{''.join(unknown)!r} (first at position {pos}); use only characters of the training corpus"
            ) from None

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Map ids back to a string. Ids outside ``0..V-1`` raise ``ValueError``."""
        ids = np.asarray(ids).ravel()
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in 0..{len(self) - 1}, got range {ids.min()}..{ids.max()}")
        return "".join(self.chars[int(i)] for i in ids)

    def one_hot(self, ids: Sequence[int] | np.ndarray, dtype=np.float64) -> np.ndarray:
        """One-hot rows, shape (len(ids), V)."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((ids.size, len(self)), dtype=dtype)
        out[np.arange(ids.size), ids] = 1
        return out

    def to_json(self) -> str:
        return json.dumps({"chars": self.chars})

    @classmethod
    def from_json(cls, s: str) -> "CharVocab":
        return cls(json.loads(s)["chars"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "CharVocab":
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def train_val_split(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """Split text into a leading training part and a trailing validation part."""
    if not 0 <= val_fraction < 1:
        raise ValueError("val_fraction must be in [0, 1)")
    if not text:
        raise ValueError("cannot split empty text: the corpus is empty")
    n_val = int(len(text) * val_fraction)
    return text[: len(text) - n_val], text[len(text) - n_val:]


def batch_windows(data: np.ndarray, batch_size: int, seq_length: int,
                  rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``batch_size`` random windows of an id sequence.

    Inputs:
    - data: (N,) integer ids
    - batch_size: B; seq_length: T

    Returns ``(x, y)``, each (B, T) int64, where ``y[b, t] = x[b, t + 1]`` continues the text.
    Raises ``ValueError`` when the data has fewer than ``T + 1`` ids.
    """
    data = np.asarray(data)
    if data.ndim != 1:
        raise ValueError(f"data must be a 1-D array of ids, got shape {data.shape}")
    if batch_size < 1 or seq_length < 1:
        raise ValueError("batch_size and seq_length must be positive")
    if len(data) < seq_length + 1:
        raise ValueError(f"data has {len(data)} ids; need at least seq_length + 1 = {seq_length + 1}")
    rng = rng if rng is not None else np.random.default_rng()
    starts = rng.integers(0, len(data) - seq_length, size=batch_size)
    idx = starts[:, None] + np.arange(seq_length + 1)[None, :]
    windows = data[idx].astype(np.int64)
    return windows[:, :-1], windows[:, 1:]
