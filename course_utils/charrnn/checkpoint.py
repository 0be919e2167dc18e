"""Checkpoints in safe formats: parameters as ``.npz`` (loaded without pickle) + JSON.

A checkpoint is a folder::

    params.npz     every parameter array by name (np.load(..., allow_pickle=False))
    vocab.json     the character vocabulary (CharVocab.to_json)
    config.json    model name, sizes and training summary (plain JSON)

Nothing in it can execute code when loaded. Loading checks that the arrays fit the vocabulary
and, when the caller passes the vocabulary it will use, that it is the same one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.text import CharVocab

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint"]

PARAMS_FILE, VOCAB_FILE, CONFIG_FILE = "params.npz", "vocab.json", "config.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed, or does not fit the vocabulary it is used with."""


@dataclass
class Checkpoint:
    params: dict[str, np.ndarray]
    vocab: CharVocab
    config: dict[str, Any]


def save_checkpoint(directory: str | Path, params: dict[str, np.ndarray], vocab: CharVocab,
                    config: dict[str, Any]) -> Path:
    """Write ``params``, ``vocab`` and ``config`` (JSON-serialisable) into ``directory``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    np.savez(directory / PARAMS_FILE, **{k: np.asarray(v) for k, v in params.items()})
    vocab.save(directory / VOCAB_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return directory


def _vocab_difference(trained: CharVocab, given: CharVocab) -> str:
    missing = sorted(set(given.chars) - set(trained.chars))
    extra = sorted(set(trained.chars) - set(given.chars))
    parts = [f"the checkpoint has {len(trained)} characters, the text you use has {len(given)}"]
    if missing:
        parts.append(f"unknown to the checkpoint: {''.join(missing)[:40]!r}")
    if extra:
        parts.append(f"only in the checkpoint: {''.join(extra)[:40]!r}")
    if not missing and not extra:
        parts.append("same characters in a different order")
    return "; ".join(parts)


def load_checkpoint(directory: str | Path, vocab: CharVocab | None = None) -> Checkpoint:
    """Load a checkpoint folder written by :func:`save_checkpoint`.

    Raises :class:`CheckpointError` when files are missing or malformed, when the arrays do not fit
    the stored vocabulary, or when ``vocab`` is given and differs from the checkpoint's.
    """
    directory = Path(directory)
    paths = [directory / n for n in (PARAMS_FILE, VOCAB_FILE, CONFIG_FILE)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"{directory} is not a checkpoint folder: missing {', '.join(missing)} "
                              "(train one with `course charrnn train --out DIR`)")
    try:
        with np.load(paths[0], allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
        stored_vocab = CharVocab.load(paths[1])
        config = json.loads(paths[2].read_text(encoding="utf-8"))
    except (ValueError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{directory}: cannot read the checkpoint ({type(exc).__name__}: {exc})") from None
    if vocab is not None and vocab != stored_vocab:
        raise CheckpointError(f"{directory} was trained on a different vocabulary: {_vocab_difference(stored_vocab, vocab)}")
    V = len(stored_vocab)
    if "Wxh" in params and params["Wxh"].shape[1] != V or "Why" in params and params["Why"].shape[0] != V:
        raise CheckpointError(f"{directory}: the parameters are for {params['Wxh'].shape[1]} characters but "
                              f"vocab.json lists {V}; the files do not belong together")
    return Checkpoint(params, stored_vocab, config)
