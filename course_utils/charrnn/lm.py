"""Character-level language models in PyTorch (unit 8, the char-rnn practice).

:class:`CharLM` is the model of Karpathy's char-rnn and of the slides' TensorFlow practice:

    ids (B, T) --embedding--> (B, T, E) --L-layer LSTM / GRU / RNN--> (B, T, H) --dropout--> --linear--> (B, T, V)

with dropout between the recurrent layers and before the output layer. The recurrent state is
returned so that training can carry it from one window of text to the next (truncated BPTT) and
sampling can feed one character at a time.

Helpers:

* :func:`vocab_by_frequency` -- the slides' vocabulary: characters sorted by count, most frequent first
* :func:`weighted_pick` -- the slides' sampler: draw an index from unnormalised weights with a
  cumulative sum and one uniform number
* :func:`evaluate` -- held-out nats per character, reading the text as contiguous streams with the
  state carried along (how the model is used when it generates)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CELLS", "LMConfig", "CharLM", "State", "detach_state", "vocab_by_frequency", "weighted_pick",
           "evaluate", "sample_ids"]

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
"""The recurrent state: h (layers, B, H) for RNN/GRU, (h, c) for an LSTM."""


@dataclass(frozen=True)
class LMConfig:
    """The architecture of a :class:`CharLM` (everything needed to rebuild it, stored as JSON).

    - vocab_size: V characters; cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh)
    - hidden: H units per layer; layers: L stacked layers; embedding: E, the width of a character's vector
    - dropout: probability of zeroing an activation between layers and before the output (training only)
    """
    vocab_size: int
    cell: str = "lstm"
    hidden: int = 512
    layers: int = 2
    embedding: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("vocab_size", "hidden", "layers", "embedding"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LMConfig":
        """Rebuild from :meth:`to_dict`; unknown or missing keys raise ``ValueError``."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown or "vocab_size" not in d:
            raise ValueError(f"not a CharLM configuration: unknown keys {sorted(unknown)}" if unknown
                             else "not a CharLM configuration: no vocab_size")
        return cls(**d)


class CharLM(nn.Module):
    """Embedding, ``layers`` recurrent layers (``nn.LSTM``/``nn.GRU``/``nn.RNN``), dropout, linear read-out.

    ``forward(x, state)``:
    - x: (B, T) int64 character ids; state: from a previous call, or None for zeros
    Returns ``(logits (B, T, V), new state)``; the state is h (L, B, H), or (h, c) for an LSTM.
    """

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.Embedding(c.vocab_size, c.embedding)
        self.rnn = CELLS[c.cell](c.embedding, c.hidden, num_layers=c.layers, batch_first=True,
                                 dropout=c.dropout if c.layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if x.dim() != 2 or x.dtype != torch.int64:
            raise ValueError(f"x must be a (B, T) int64 tensor of character ids, got {tuple(x.shape)} {x.dtype}")
        out, state = self.rnn(self.embed(x), state)
        return self.head(self.drop(out)), state

    def init_state(self, batch_size: int, device: torch.device | str | None = None) -> State:
        """Zeros of the right shape: (L, B, H), or a pair of them for an LSTM."""
        p = next(self.parameters())
        z = torch.zeros(self.config.layers, batch_size, self.config.hidden, device=device or p.device, dtype=p.dtype)
        return (z, z.clone()) if self.config.cell == "lstm" else z

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State | None) -> State | None:
    """Cut the graph at a window boundary (truncated BPTT): same values, no history."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)  # type: ignore[return-value]
    return state.detach()


def vocab_by_frequency(text: str) -> list[str]:
    """The distinct characters of ``text``, most frequent first (ties by code point).

    The slides build their vocabulary this way (``collections.Counter``, sorted by count), so id 0 is
    the commonest character (a space, in English and in code).
    """
    if not text:
        raise ValueError("cannot build a vocabulary from empty text")
    counts = Counter(text)
    return sorted(counts, key=lambda ch: (-counts[ch], ch))


def weighted_pick(weights: np.ndarray, u: float) -> int:
    """The index ``i`` with ``cumsum[i-1] <= u * total < cumsum[i]``: a draw from ``weights / total``.

    - weights: (V,) non-negative, not all zero (unnormalised probabilities)
    - u: a uniform number in [0, 1)
    Index i is chosen exactly when u falls in its slice of [0, 1), whose length is ``weights[i] / total``.
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and not all zero")
    if not 0 <= u < 1:
        raise ValueError(f"u must be in [0, 1), got {u}")
    cumulative = np.cumsum(w)
    i = int(np.searchsorted(cumulative, u * cumulative[-1], side="right"))
    return min(i, w.size - 1)


@torch.no_grad()
def evaluate(model: CharLM, ids: np.ndarray | torch.Tensor, *, streams: int = 32, chunk: int = 256,
             max_chars: int | None = None) -> float:
    """Cross-entropy in nats per character of ``model`` on held-out ids.

    The ids are cut into ``streams`` contiguous pieces read side by side in chunks of ``chunk``
    characters, the state carried from chunk to chunk (so every prediction but the first few of each
    stream has long context). ``max_chars`` evaluates only the first characters (for quick curves).
    Inputs: ids (N,) int. Returns the mean of -log p(next char) over ``streams * (N // streams - 1)`` predictions.
    """
    data = torch.as_tensor(np.asarray(ids) if not isinstance(ids, torch.Tensor) else ids, dtype=torch.int64)
    if max_chars is not None:
        data = data[:max_chars]
    streams = max(1, min(streams, len(data) // 2))
    S = len(data) // streams
    if S < 2:
        raise ValueError(f"need at least 2 characters per stream to evaluate, got {len(data)} characters")
    device = next(model.parameters()).device
    grid = data[: streams * S].view(streams, S).to(device)
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        for p in range(0, S - 1, chunk):
            x = grid[:, p: min(p + chunk, S - 1)]
            y = grid[:, p + 1: p + 1 + x.shape[1]]
            logits, state = model(x, state)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                           reduction="sum"))
            count += y.numel()
    finally:
        model.train(was_training)
    return total / count


@torch.no_grad()
def sample_ids(model: CharLM, prime_ids: list[int] | np.ndarray, n: int, rng: np.random.Generator, *,
               temperature: float = 1.0, top_k: int | None = None) -> list[int]:
    """Feed ``prime_ids`` through the model, then draw ``n`` characters one at a time.

    Each step: logits (V,) of the last position, divided by ``temperature`` (top-k optional), softmax,
    then :func:`weighted_pick` with ``rng.random()``; the drawn id is fed back in.
    Returns the n sampled ids (the prime excluded). Deterministic for a given ``rng`` state.
    """
    from .sampling import sampling_distribution

    prime = [int(i) for i in np.asarray(prime_ids).ravel()]
    if not prime:
        raise ValueError("give at least one priming character")
    V = model.config.vocab_size
    if min(prime) < 0 or max(prime) >= V:
        raise ValueError(f"prime ids must lie in 0..{V - 1}")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[int] = []
    try:
        logits, state = model(torch.tensor([prime], dtype=torch.int64, device=device))
        for _ in range(n):
            p = sampling_distribution(logits[0, -1].double().cpu().numpy(), temperature, top_k)
            nxt = weighted_pick(p, float(rng.random()))
            out.append(nxt)
            logits, state = model(torch.tensor([[nxt]], dtype=torch.int64, device=device), state)
    finally:
        model.train(was_training)
    return out
