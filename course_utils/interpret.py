"""Interpretable LSTM cells (unit 6), after Karpathy, Johnson & Fei-Fei (2015), "Visualizing and
understanding recurrent networks".

* :class:`CharLSTM` -- a PyTorch character model: embedding -> ``nn.LSTM`` -> linear read-out.
* :func:`train_char_lstm` -- Adam on random windows (:func:`course_utils.data.batch_windows`), through
  :func:`course_utils.training.fit` (progress bar; live plot in Jupyter).
* :func:`lstm_states` -- run the trained layer with the NumPy reference :func:`course_utils.lstm.lstm_forward`
  to get what ``nn.LSTM`` does not expose: cell states and gate values at every character.
* Text features: :func:`in_string`, :func:`in_comment`, :func:`in_if_header`, :func:`column`,
  :func:`line_length`, :func:`indent_depth`, :func:`paren_depth` -- one number per character.
* :func:`best_cells` -- the cells most correlated with each feature; :func:`saturation` -- how often
  each gate is left- (< 0.1) or right-saturated (> 0.9); :func:`show_text` -- characters on
  background colours given by an activation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import lstm
from .data.text import batch_windows
from .runtime import get_device
from .training import History, fit

__all__ = ["CharLSTM", "train_char_lstm", "lstm_states", "in_string", "in_comment", "in_if_header", "column",
           "line_length", "indent_depth", "paren_depth", "FEATURES", "correlations", "best_cells", "CellMatch",
           "saturation", "show_text"]


class CharLSTM(nn.Module):
    """Character model: ids (B, T) -> logits (B, T, V), optionally from a state ``(h0, c0)``.

    - vocab_size: V; embed: E, the size of the learned character embedding; hidden: H
    """

    def __init__(self, vocab_size: int, hidden: int = 128, embed: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out, state = self.lstm(self.embed(ids), state)
        return self.head(out), state


def train_char_lstm(model: CharLSTM, train_ids: np.ndarray, val_ids: np.ndarray | None = None, *,
                    steps: int = 1000, batch_size: int = 32, seq_length: int = 64, lr: float = 3e-3,
                    clip: float = 1.0, eval_every: int = 200, seed: int = 0,
                    device: str | torch.device | None = None, live_plot: bool = True) -> History:
    """Train ``model`` for ``steps`` Adam steps on random windows of ``train_ids``; returns the history.

    Losses are mean cross-entropies in nats per character; ``val loss`` is measured on up to 20,000
    characters of ``val_ids`` every ``eval_every`` steps. Gradients are clipped by global norm.
    """
    device = get_device(device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    loss_fn = nn.CrossEntropyLoss()

    def step(_: int) -> float:
        model.train()
        x, y = batch_windows(train_ids, batch_size, seq_length, rng)
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        logits, _ = model(x)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return float(loss.detach())

    evaluate = None
    if val_ids is not None:
        def evaluate() -> dict[str, float]:
            return {"val loss": evaluate_char_lstm(model, val_ids[:20_000], device=device)}
    return fit(step, steps, evaluate=evaluate, eval_every=eval_every, desc="char-LSTM", live_plot=live_plot)


@torch.no_grad()
def evaluate_char_lstm(model: CharLSTM, ids: np.ndarray, streams: int = 20,
                       device: str | torch.device | None = None) -> float:
    """Mean cross-entropy (nats/char) of predicting ``ids[1:]`` from ``ids[:-1]``, in ``streams`` parallel pieces."""
    device = get_device(device)
    model.eval()
    n = (len(ids) - 1) // streams
    if n < 1:
        raise ValueError(f"need at least {streams + 1} ids, got {len(ids)}")
    x = torch.as_tensor(np.asarray(ids[:n * streams]).reshape(streams, n), dtype=torch.long, device=device)
    y = torch.as_tensor(np.asarray(ids[1:n * streams + 1]).reshape(streams, n), dtype=torch.long, device=device)
    logits, _ = model(x)
    return float(nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)))


@torch.no_grad()
def lstm_states(model: CharLSTM, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Cell states and gates of ``model`` reading ``ids`` (one sequence, from a zero state).

    Returns float64 arrays of shape (T, H): ``h``, ``c``, ``tanh_c`` and the gates ``i``, ``f``,
    ``g``, ``o`` -- computed by :func:`course_utils.lstm.lstm_forward` from the module's weights.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    p = {k: v.astype(np.float64) for k, v in lstm.lstm_params_from_torch(model.lstm).items()}
    x = model.embed.weight.detach().cpu().numpy().astype(np.float64)[ids][None]
    H = p["Wh"].shape[0]
    h, cache = lstm.lstm_forward(x, np.zeros((1, H)), p["Wx"], p["Wh"], p["b"])
    out = {"h": h[0], "c": cache["c"][0], "tanh_c": np.tanh(cache["c"][0])}
    out.update({k: v[0] for k, v in cache["gates"].items()})
    return out


# ---------------------------------------------------------------- text features (one value per character)

def in_string(text: str) -> np.ndarray:
    """1.0 for characters inside a Python string literal (quotes included), else 0.0.

    Handles ``'``, ``"``, triple quotes and backslash escapes; ``#`` comments are not strings
    (quotes inside them are ignored). A string left open at the end stays open.
    """
    out = np.zeros(len(text))
    i, quote, comment = 0, "", False
    while i < len(text):
        ch = text[i]
        if comment:
            if ch == "\n":
                comment = False
            i += 1
            continue
        if not quote:
            if ch == "#":
                comment = True
            elif ch in "'\"":
                quote = text[i:i + 3] if text[i:i + 3] == ch * 3 else ch
                out[i:i + len(quote)] = 1
                i += len(quote)
                continue
            i += 1
            continue
        out[i] = 1
        if ch == "\\":
            out[i + 1:i + 2] = 1
            i += 2
            continue
        if text.startswith(quote, i):
            out[i:i + len(quote)] = 1
            i += len(quote)
            quote = ""
            continue
        if ch == "\n" and len(quote) == 1:       # an unterminated one-line string ends at the line
            quote = ""
        i += 1
    return out


def column(text: str) -> np.ndarray:
    """Position of each character in its line (0 for the first character; a newline gets its column)."""
    out = np.zeros(len(text))
    col = 0
    for i, ch in enumerate(text):
        out[i] = col
        col = 0 if ch == "\n" else col + 1
    return out


def line_length(text: str) -> np.ndarray:
    """Length of the line each character belongs to (newline excluded)."""
    out = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        out[start:start + len(line) + 1] = len(line)
        start += len(line) + 1
    return out[:len(text)]


def indent_depth(text: str, width: int = 4) -> np.ndarray:
    """Indentation level (leading spaces // ``width``) of the line each character belongs to.

    Blank lines (only spaces) get 0.
    """
    out = np.zeros(len(text))
    start = 0
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        depth = (len(line) - len(stripped)) // width if stripped else 0
        out[start:start + len(line) + 1] = depth
        start += len(line) + 1
    return out[:len(text)]


def paren_depth(text: str) -> np.ndarray:
    """Number of open ``(``, ``[``, ``{`` brackets at each character (outside strings and comments).

    The opening bracket itself counts as inside, the closing one too; never below 0.
    """
    strings = in_string(text)
    out = np.zeros(len(text))
    depth, comment = 0, False
    for i, ch in enumerate(text):
        if ch == "\n":
            comment = False
        elif not strings[i] and ch == "#":
            comment = True
        if not strings[i] and not comment and ch in "([{":
            depth += 1
        out[i] = depth
        if not strings[i] and not comment and ch in ")]}":
            depth = max(0, depth - 1)
    return out


def in_comment(text: str) -> np.ndarray:
    """1.0 for the characters of a ``#`` comment (from the ``#`` outside a string to the end of its line)."""
    strings = in_string(text)
    out = np.zeros(len(text))
    comment = False
    for i, ch in enumerate(text):
        if ch == "\n":
            comment = False
        elif not strings[i] and ch == "#":
            comment = True
        out[i] = comment
    return out


def in_if_header(text: str) -> np.ndarray:
    """1.0 for the characters of an ``if`` / ``elif`` statement's header: from the keyword at the start of
    a line (after its indentation) to the end of the line -- or, when brackets are still open there, to
    the end of the line that closes them (a condition spread over several lines)."""
    depth = paren_depth(text)
    out = np.zeros(len(text))
    inside, line_start = False, True
    for i, ch in enumerate(text):
        if line_start and ch != " ":
            line_start = False
            rest = text[i:i + 5]
            if rest.startswith("if ") or rest.startswith("if(") or rest.startswith("elif ") or rest.startswith("elif("):
                inside = True
        out[i] = inside
        if ch == "\n":
            line_start = True
            if depth[i] == 0:
                inside = False
    return out


FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "inside a string": in_string, "inside a comment": in_comment, "if-statement header": in_if_header,
    "column": column, "line length": line_length, "indentation depth": indent_depth,
    "inside brackets": lambda t: (paren_depth(t) > 0).astype(float),
}


# ---------------------------------------------------------------- correlations and saturation

def correlations(acts: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``acts`` (T, H) with ``feature`` (T,): an (H,) array.

    Constant columns (or a constant feature) get correlation 0.
    """
    acts = np.asarray(acts, dtype=np.float64)
    feature = np.asarray(feature, dtype=np.float64)
    if acts.ndim != 2 or feature.shape != (acts.shape[0],):
        raise ValueError(f"need acts (T, H) and feature (T,), got {acts.shape} and {feature.shape}")
    a = acts - acts.mean(axis=0)
    f = feature - feature.mean()
    denom = np.sqrt((a ** 2).sum(axis=0) * (f ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(axis=0) / denom
    return np.where(denom > 0, r, 0.0)


@dataclass(frozen=True)
class CellMatch:
    """The cell whose activation correlates best (in absolute value) with a feature."""
    feature: str
    cell: int
    r: float


def best_cells(acts: np.ndarray, text: str,
               features: Mapping[str, Callable[[str], np.ndarray]] | None = None) -> list[CellMatch]:
    """For each feature of ``text`` the cell of ``acts`` (len(text), H) with the largest |correlation|."""
    features = FEATURES if features is None else features
    if acts.shape[0] != len(text):
        raise ValueError(f"acts has {acts.shape[0]} rows but the text has {len(text)} characters")
    out = []
    for name, fn in features.items():
        r = correlations(acts, fn(text))
        k = int(np.argmax(np.abs(r)))
        out.append(CellMatch(name, k, float(r[k])))
    return out


def saturation(gate: np.ndarray, low: float = 0.1, high: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of time steps each unit of ``gate`` (T, H) is left-saturated (< low) and right-saturated (> high)."""
    gate = np.asarray(gate)
    if gate.ndim != 2:
        raise ValueError(f"gate must have shape (T, H), got {gate.shape}")
    return (gate < low).mean(axis=0), (gate > high).mean(axis=0)


def show_text(text: str, values: np.ndarray, *, ax=None, title: str = "", width: int = 80,
              cmap: str = "RdBu_r", vmin: float = -1.0, vmax: float = 1.0):
    """Draw ``text`` as a character grid whose backgrounds are coloured by ``values`` (one per character).

    Lines longer than ``width`` are wrapped; a newline cell is drawn at the end of its line.
    Returns the matplotlib axes.
    """
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=np.float64)
    if values.shape != (len(text),):
        raise ValueError(f"need one value per character: {len(text)} characters, values {values.shape}")
    rows, r, c = [], 0, 0
    for ch in text:
        rows.append((r, c, ch))
        if ch == "\n" or c + 1 >= width:
            r, c = r + 1, 0
        else:
            c += 1
    n_rows = r + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(width * 0.09, n_rows * 0.17 + 0.3))
    colours = plt.get_cmap(cmap)(np.clip((values - vmin) / (vmax - vmin), 0, 1))
    for (r, c, ch), colour in zip(rows, colours):
        ax.add_patch(plt.Rectangle((c, r), 1, 1, color=colour, lw=0))
        if ch not in "\n ":
            ax.text(c + 0.5, r + 0.55, ch, ha="center", va="center", family="monospace", fontsize=7)
    ax.set_xlim(0, width)
    ax.set_ylim(n_rows, 0)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    return ax
