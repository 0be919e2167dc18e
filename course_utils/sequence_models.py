"""PyTorch sequence classifiers and their trainer (unit 3; reused by unit 8).

The lecture's "sequential processing of fixed inputs": an image of shape (H, W) is read as a
sequence of ``T = H`` rows, each a ``D = W`` vector, by a recurrent layer; a linear read-out of the
final hidden state gives class scores.

* :class:`RowRNNClassifier` -- ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``cell=``) + linear read-out,
  input (N, T, D) -> logits (N, C); optional ``lengths`` (N,) for padded variable-length batches.
* :func:`train_classifier` -- minibatch Adam training with :func:`course_utils.training.fit`
  (progress bar, live plot in Jupyter, text when headless), returns a :class:`~course_utils.training.History`.
* :func:`evaluate_classifier`, :func:`predict` -- loss/accuracy and predictions in batches.

Everything is device-agnostic: ``device=None`` means :func:`course_utils.runtime.get_device`.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .runtime import get_device
from .training import History, fit

__all__ = ["CELLS", "TensorSplit", "RowRNNClassifier", "train_classifier", "evaluate_classifier", "predict"]

CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class TensorSplit(Protocol):
    """What :func:`train_classifier` needs from a data split (e.g. :class:`course_utils.data.DigitsSplit`)."""

    def tensors(self, split: str, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(X, y)`` of ``"train"``, ``"val"`` or ``"test"``: X (N, T, D) float, y (N,) int64."""
        ...


class RowRNNClassifier(nn.Module):
    """A recurrent layer (stack) that reads a sequence and classifies it from its final state.

    Shapes: input ``x`` (N, T, D) (batch first) -> logits (N, C).

    - input_size: D, features per step (8 for digits read row by row)
    - hidden_size: H, units per direction and layer
    - num_classes: C
    - cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``
    - num_layers: stacked recurrent layers (layer l reads the hidden states of layer l-1)
    - bidirectional: a second RNN per layer reads the sequence right to left; the read-out sees
      the final states of both directions (2H features)
    - dropout: between stacked layers (only used when ``num_layers > 1``)
    """

    def __init__(self, input_size: int = 8, hidden_size: int = 64, num_classes: int = 10, *,
                 cell: str = "gru", num_layers: int = 1, bidirectional: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        cell = cell.lower()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_classes", num_classes), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_classes = num_classes
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.head = nn.Linear(hidden_size * self.num_directions, num_classes)

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _check_input(self, x: torch.Tensor, lengths: torch.Tensor | None) -> None:
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ValueError(f"expected input of shape (N, T, {self.input_size}) (batch, time, features), "
                             f"got {tuple(x.shape)}")
        if lengths is not None:
            if lengths.ndim != 1 or lengths.shape[0] != x.shape[0]:
                raise ValueError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
            if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]:
                raise ValueError(f"lengths must lie in 1..{x.shape[1]} (T), got "
                                 f"{int(lengths.min())}..{int(lengths.max())}")

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The sequence summary the read-out sees: (N, T, D) -> (N, num_directions * H).

        It is the top layer's final hidden state (the last *valid* step of each sequence when
        ``lengths`` is given; for a bidirectional layer, forward final state ++ backward final state).
        """
        self._check_input(x, lengths)
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.detach().cpu(), batch_first=True, enforce_sorted=False)
        _, h_n = self.rnn(x)
        if isinstance(h_n, tuple):          # LSTM returns (h_n, c_n)
            h_n = h_n[0]
        # h_n: (num_layers * num_directions, N, H); the last num_directions rows are the top layer
        return torch.cat(list(h_n[-self.num_directions:]), dim=1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class scores: x (N, T, D) [, lengths (N,)] -> logits (N, C)."""
        return self.head(self.encode(x, lengths))

    @torch.no_grad()
    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Top-layer hidden states at every step: (N, T, D) -> (N, T, num_directions * H).

        Useful to watch the state evolve while the network reads an input.
        """
        self._check_input(x, None)
        out, _ = self.rnn(x)
        return out

    @torch.no_grad()
    def step_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Read-out applied after every step of a unidirectional model: (N, T, D) -> (N, T, C).

        ``step_logits(x)[:, t]`` is what the classifier would answer having read only the first
        t+1 steps (the last step equals ``forward(x)``).
        """
        if self.bidirectional:
            raise ValueError("step_logits needs a unidirectional model (a bidirectional state "
                             "at step t has already seen the whole sequence)")
        return self.head(self.hidden_states(x))


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted classes (N,) for inputs X (N, T, D), in batches, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    preds = [model(X[i:i + batch_size].to(device)).argmax(dim=1) for i in range(0, len(X), batch_size)]
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long, device=device)


@torch.no_grad()
def evaluate_classifier(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                        batch_size: int = 512) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on X (N, T, D), y (N,): ``{"loss", "accuracy"}``."""
    if len(X) != len(y):
        raise ValueError(f"X and y differ in length: {len(X)} vs {len(y)}")
    if len(X) == 0:
        raise ValueError("cannot evaluate on an empty set")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct = 0.0, 0
    for i in range(0, len(X), batch_size):
        xb, yb = X[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        logits = model(xb)
        total_loss += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return {"loss": total_loss / len(X), "accuracy": correct / len(X)}


def train_classifier(model: nn.Module, split: TensorSplit, epochs: int = 20, lr: float = 1e-2, batch_size: int = 64, *,
                     device: str | torch.device | None = None, seed: int = 0, weight_decay: float = 0.0,
                     clip_norm: float | None = 1.0, eval_every: int | None = None,
                     max_seconds: float | None = None, live_plot: bool = True,
                     desc: str = "training") -> History:
    """Train a sequence classifier with Adam on minibatches of ``split``'s training set.

    - model: maps (N, T, D) float inputs to (N, C) logits (e.g. :class:`RowRNNClassifier`); it is
      moved to ``device`` and trained in place
    - split: anything with ``.tensors(name, device) -> (X, y)`` for ``"train"`` and ``"val"``
      (e.g. :func:`course_utils.data.load_digits_split`), X (N, T, D) float, y (N,) int64
    - epochs, batch_size: one epoch is ``ceil(N_train / batch_size)`` steps over a fresh permutation
    - lr, weight_decay: Adam settings
    - device: ``None`` -> :func:`course_utils.runtime.get_device`
    - seed: fixes the minibatch order (a private ``torch.Generator``; the global RNG is untouched)
    - clip_norm: clip the global gradient norm to this value (``None``: no clipping)
    - eval_every: steps between validation checks (default: at epoch ends, about 10 checks in all);
      the history records ``"val loss"`` and ``"val acc"``
    - max_seconds: stop early after this much wall time

    Returns the :class:`~course_utils.training.History` (``history.seconds`` is the training time).
    Raises ``FloatingPointError`` if the loss becomes NaN/inf.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}")
    dev = get_device(device)
    model.to(dev)
    X, y = split.tensors("train", dev)
    X_val, y_val = split.tensors("val", dev)
    n = len(X)
    if n == 0:
        raise ValueError("the training set is empty")
    steps_per_epoch = math.ceil(n / batch_size)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.arange(n, device=dev)

    def step(i: int) -> float:
        nonlocal perm
        if i % steps_per_epoch == 0:                # a new epoch: a new order of the examples
            perm = torch.randperm(n, generator=gen).to(dev)
        j = i % steps_per_epoch
        idx = perm[j * batch_size:(j + 1) * batch_size]
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(X[idx]), y[idx])
        loss.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        return loss.item()

    evaluate = None
    if len(X_val):
        def evaluate() -> dict[str, float]:
            metrics = evaluate_classifier(model, X_val, y_val)
            return {"val loss": metrics["loss"], "val acc": metrics["accuracy"]}

    history = fit(step, epochs * steps_per_epoch, evaluate=evaluate,
                  eval_every=eval_every or steps_per_epoch * max(1, epochs // 10), desc=desc, live_plot=live_plot,
                  max_seconds=max_seconds)
    model.eval()
    return history
