"""Training loops for min-char-rnn: the faithful one and the batched one.

Both follow the original main loop: sweep the data left to right in chunks of ``seq_length``,
carry the hidden state from chunk to chunk and reset it at the start of the data, clip, update
with Adagrad, keep a smoothed loss, and sample every ``sample_every`` iterations.
The batched loop cuts the data into B contiguous shards and sweeps all of them in step.
Both apply the course's CPU thread setting first (one BLAS thread unless ``COURSE_BLAS_THREADS`` or an
earlier :func:`course_utils.runtime.limit_threads` call says otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from ..runtime import ensure_thread_limits
from .batched import cast_params, evaluate_loss, loss_fun_batched
from .minchar import (PARAM_NAMES, Hyperparameters, Params, adagrad_update, init_params,
                      initial_smooth_loss, loss_fun, sample, update_smooth_loss)

__all__ = ["TrainResult", "check_training_data", "train_minchar", "train_batched"]

SampleCallback = Callable[[int, list[int]], None]


@dataclass
class TrainResult:
    """What a training run produced.

    - params: the trained parameters; memory: Adagrad's running sums of squared gradients
    - smooth_losses: (iterations,) smoothed loss after each iteration (per sequence of seq_length chars)
    - samples: (iteration, ids) pairs taken every ``sample_every`` iterations
    - chars: training characters processed (inputs fed forward); seconds: wall time of the loop
    """
    model: str
    params: Params
    memory: Params
    hparams: Hyperparameters
    batch_size: int
    initial_smooth_loss: float
    smooth_losses: np.ndarray
    samples: list[tuple[int, list[int]]] = field(default_factory=list)
    chars: int = 0
    seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return int(self.smooth_losses.size)

    @property
    def final_smooth_loss(self) -> float:
        return float(self.smooth_losses[-1]) if self.smooth_losses.size else self.initial_smooth_loss

    @property
    def chars_per_second(self) -> float:
        return self.chars / self.seconds if self.seconds > 0 else float("nan")

    def val_loss(self, val_ids: np.ndarray) -> float:
        """Validation cross-entropy in nats per character (see :func:`.batched.evaluate_loss`)."""
        return evaluate_loss(self.params, val_ids)


def check_training_data(data: np.ndarray, seq_length: int, batch_size: int = 1) -> np.ndarray:
    """Validate an id sequence for training; returns it as a 1-D int64 array.

    Raises ``ValueError`` with the reason when it is empty or too short for ``seq_length``
    (each of the ``batch_size`` shards needs at least seq_length + 1 characters).
    """
    data = np.asarray(data)
    if seq_length < 1 or batch_size < 1:
        raise ValueError(f"seq_length and batch_size must be positive, got {seq_length} and {batch_size}")
    if data.size == 0:
        raise ValueError("the training text is empty: there is nothing to learn from")
    if data.ndim != 1 or data.dtype.kind not in "iu":
        raise ValueError(f"training data must be a 1-D array of integer ids, got {data.dtype} of shape {data.shape}")
    need = (seq_length + 1) * batch_size
    if data.size < need:
        raise ValueError(
            f"the training text has {data.size} characters, but seq_length={seq_length}"
            + (f" and batch_size={batch_size} need" if batch_size > 1 else " needs")
            + f" at least {need} (seq_length + 1{' per sequence' if batch_size > 1 else ''}); "
            "use a longer text or a smaller seq_length")
    return data.astype(np.int64, copy=False)


def _stop(n: int, start: float, iters: int | None, seconds: float | None) -> bool:
    if iters is not None and n >= iters:
        return True
    return seconds is not None and time.perf_counter() - start >= seconds


def _bar(iters: int | None, progress: bool, desc: str):
    return tqdm(total=iters, disable=not progress, desc=desc, unit="it", leave=True, mininterval=0.5)


def _limits(iters: int | None, seconds: float | None) -> None:
    if iters is None and seconds is None:
        raise ValueError("give a number of iterations or a number of seconds to train for")
    if iters is not None and iters < 0 or seconds is not None and seconds < 0:
        raise ValueError("iterations and seconds must be non-negative")


def train_minchar(data: np.ndarray, vocab_size: int, *, iters: int | None = None, seconds: float | None = None,
                  hparams: Hyperparameters = Hyperparameters(), seed: int = 0, params: Params | None = None,
                  progress: bool = True, on_sample: SampleCallback | None = None) -> TrainResult:
    """The original main loop, one sequence of ``seq_length`` characters per iteration.

    Inputs:
    - data: (N,) character ids of the training text
    - vocab_size: V; iters / seconds: when to stop (whichever comes first)
    - hparams: the original's settings by default; seed: for initialisation and sampling
    - params: start from these instead of a fresh initialisation (updated in place)
    - on_sample: called as ``on_sample(iteration, ids)`` for every sample
    """
    _limits(iters, seconds)
    ensure_thread_limits()   # 1 BLAS thread unless set otherwise: these matrices are small
    hp = hparams
    data = check_training_data(data, hp.seq_length)
    rng = np.random.default_rng(seed)
    if params is None:
        params = init_params(vocab_size, hp.hidden_size, rng, hp.init_scale)
    memory = {k: np.zeros_like(params[k]) for k in PARAM_NAMES}   # Adagrad memory
    T, H = hp.seq_length, params["Whh"].shape[0]
    smooth = start_loss = initial_smooth_loss(vocab_size, T)       # loss at iteration 0
    smooth_losses: list[float] = []
    samples: list[tuple[int, list[int]]] = []
    n, p = 0, 0
    hprev = np.zeros((H, 1))
    start = time.perf_counter()
    with _bar(iters, progress, "min-char-rnn") as bar:
        while not _stop(n, start, iters, seconds):
            if p + T + 1 >= len(data) or n == 0:   # sweep from the start again, with a fresh memory
                hprev = np.zeros((H, 1))
                p = 0
            inputs = data[p:p + T]
            targets = data[p + 1:p + T + 1]
            if hp.sample_every and n % hp.sample_every == 0:
                ids = sample(hprev, int(inputs[0]), hp.sample_length, params, rng)
                samples.append((n, ids))
                if on_sample is not None:
                    on_sample(n, ids)
            loss, grads, hprev = loss_fun(inputs, targets, hprev, params, clip=hp.clip)
            smooth = update_smooth_loss(smooth, loss, hp.smooth_decay)
            smooth_losses.append(smooth)
            adagrad_update(params, grads, memory, hp.learning_rate, hp.adagrad_eps)
            p += T
            n += 1
            if n % 100 == 0:
                bar.set_postfix(loss=f"{smooth:.2f}", refresh=False)
            bar.update(1)
    seconds_taken = time.perf_counter() - start
    return TrainResult("minchar", params, memory, hp, 1, start_loss, np.asarray(smooth_losses),
                       samples, chars=n * T, seconds=seconds_taken)


def train_batched(data: np.ndarray, vocab_size: int, *, batch_size: int = 32, iters: int | None = None,
                  seconds: float | None = None, hparams: Hyperparameters = Hyperparameters(), seed: int = 0,
                  dtype: str = "float32", params: Params | None = None, progress: bool = True,
                  on_sample: SampleCallback | None = None) -> TrainResult:
    """The same loop over ``batch_size`` shards of the data at once (see :mod:`.batched`).

    Shard b is ``data[b*S:(b+1)*S]`` with ``S = N // batch_size``; each iteration reads the next
    ``seq_length`` characters of every shard; all states reset when the shards are used up.
    Samples are drawn from shard 0's state. Other inputs as :func:`train_minchar`.
    """
    _limits(iters, seconds)
    ensure_thread_limits()   # 1 BLAS thread unless set otherwise: these matrices are small
    hp = hparams
    data = check_training_data(data, hp.seq_length, batch_size)
    rng = np.random.default_rng(seed)
    if params is None:
        params = init_params(vocab_size, hp.hidden_size, rng, hp.init_scale)
    params = cast_params(params, dtype)
    memory = {k: np.zeros_like(params[k]) for k in PARAM_NAMES}
    B, T, H = batch_size, hp.seq_length, params["Whh"].shape[0]
    shard = len(data) // B
    offsets = (np.arange(B) * shard)[:, None] + np.arange(T)[None, :]   # (B, T)
    smooth = start_loss = initial_smooth_loss(vocab_size, T)
    smooth_losses: list[float] = []
    samples: list[tuple[int, list[int]]] = []
    n, p = 0, 0
    hprev = np.zeros((B, H), dtype=params["Whh"].dtype)
    start = time.perf_counter()
    with _bar(iters, progress, f"min-char-rnn x{B}") as bar:
        while not _stop(n, start, iters, seconds):
            if p + T + 1 >= shard or n == 0:
                hprev = np.zeros((B, H), dtype=params["Whh"].dtype)
                p = 0
            X = data[offsets + p]
            Y = data[offsets + p + 1]
            if hp.sample_every and n % hp.sample_every == 0:
                ids = sample(hprev[:1].T, int(X[0, 0]), hp.sample_length, params, rng)
                samples.append((n, ids))
                if on_sample is not None:
                    on_sample(n, ids)
            loss, grads, hprev = loss_fun_batched(X, Y, hprev, params, clip=hp.clip)
            smooth = update_smooth_loss(smooth, loss, hp.smooth_decay)
            smooth_losses.append(smooth)
            adagrad_update(params, grads, memory, hp.learning_rate, hp.adagrad_eps)
            p += T
            n += 1
            if n % 100 == 0:
                bar.set_postfix(loss=f"{smooth:.2f}", refresh=False)
            bar.update(1)
    seconds_taken = time.perf_counter() - start
    return TrainResult("minchar-batched", params, memory, hp, B, start_loss, np.asarray(smooth_losses),
                       samples, chars=n * T * B, seconds=seconds_taken)


def with_hparams(**changes) -> Hyperparameters:
    """The original's hyperparameters with some changed, e.g. ``with_hparams(hidden_size=32)``."""
    return replace(Hyperparameters(), **changes)
