"""Training :class:`~course_utils.charrnn.lm.CharLM` the char-rnn way, with checkpoints that resume exactly.

The loop (Karpathy's char-rnn ``train.lua``, the slides' TensorFlow practice):

* the training ids are cut into B contiguous shards (a (B, N // B) grid); each step reads the next
  T characters of every shard, and the recurrent state is **carried** from window to window
  (truncated BPTT); when the shards are used up an *epoch* ends, the state is reset and the sweep
  starts again;
* Adam with decoupled weight decay (AdamW, 0.2 by default) on the weight matrices of the recurrent
  layers and the read-out (not on biases or the embedding: a rare character's row would shrink between
  its few updates); learning rate ``lr * lr_decay ** epoch`` (per-epoch decay, 0.97 by default), optionally a
  linear warm-up over the first steps and a linear *warm-down* to zero over the last fraction of
  the budget (``--iters`` or ``--seconds``); gradients clipped by their global norm (5 by default);
* held-out nats per character every ``eval_every`` steps and at the end (:func:`.lm.evaluate`);
* checkpoints every ``checkpoint_every`` steps and at the end, in safe formats only (below); a
  Ctrl-C (SIGINT) finishes the current step, saves, and stops;
* TensorBoard event files: scalars (``train/loss`` and ``val/nats_per_char`` in nats/char,
  ``lr``, ``grad_norm`` before clipping), weight and gradient histograms, text samples, and the
  character embedding with its labels for the projector.

A checkpoint is a folder::

    model.pt      the model's state_dict           (torch.load(..., weights_only=True))
    trainer.pt    optimizer state, carried state, torch RNG state (weights_only=True)
    vocab.json    the characters, in id order
    config.json   format, architecture, training settings, progress, history, sampling RNG state

``LMTrainer.resume(dir, ...)`` continues a run so that, on the CPU, stopping at step k and resuming
gives bit-identical parameters to an uninterrupted run (``tests/test_char_lm.py`` checks it).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data.text import CharVocab
from ..runtime import ensure_thread_limits, get_device, training_threads
from .checkpoint import CheckpointError, _vocab_difference
from .lm import CharLM, LMConfig, State, detach_state, evaluate, sample_ids

__all__ = ["TrainConfig", "LMTrainer", "LMCheckpoint", "COURSE_LM", "COURSE_TRAIN", "FORMAT", "make_optimizer",
           "is_lm_checkpoint", "load_lm", "char_label"]

FORMAT = "course-charlm/1"
MODEL_FILE, TRAINER_FILE, VOCAB_FILE, CONFIG_FILE = "model.pt", "trainer.pt", "vocab.json", "config.json"

# The course's default configuration (chosen by measurement: benchmarks/bench_char_lm.py).
COURSE_LM = dict(cell="lstm", hidden=256, layers=2, embedding=64, dropout=0.0)


@dataclass(frozen=True)
class TrainConfig:
    """How to train (stored in the checkpoint; a resumed run keeps it).

    - batch_size: B shards read side by side; seq_length: T characters per window (BPTT length)
    - lr: Adam's learning rate; lr_decay: factor per epoch; warmup: steps of linear warm-up;
      warmdown: final fraction of the budget over which the rate falls linearly to 0 (0: none)
    - clip: maximum global gradient norm (0: no clipping)
    - weight_decay: decoupled weight decay (AdamW): each step multiplies the recurrent and read-out weight
      matrices by ``1 - lr * weight_decay`` (biases and the embedding are not decayed)
    - dtype: ``float32``, ``float64``, ``bfloat16`` (mixed precision with autocast: float32 weights, bfloat16
      matrix products), or ``auto``: bfloat16 on a CPU with native bfloat16 arithmetic (AVX512-BF16 or AMX,
      about 1.7x the chars/s of float32 measured), else float32; the trainer stores the resolved choice
    - eval_every / eval_chars: held-out evaluation period (steps) and size (None: all) during training
    - log_every, histogram_every, sample_every, checkpoint_every: periods in steps (0: never)
    """
    batch_size: int = 32
    seq_length: int = 64
    lr: float = 6e-3
    lr_decay: float = 0.97
    warmup: int = 0
    warmdown: float = 1.0
    clip: float = 5.0
    weight_decay: float = 0.2
    seed: int = 0
    dtype: str = "auto"
    eval_every: int = 500
    eval_chars: int | None = 20_000
    log_every: int = 10
    histogram_every: int = 250
    sample_every: int = 500
    sample_length: int = 200
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        for name in ("batch_size", "seq_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not self.lr > 0 or not 0 < self.lr_decay <= 1:
            raise ValueError(f"need lr > 0 and 0 < lr_decay <= 1, got lr={self.lr}, lr_decay={self.lr_decay}")
        if not 0 <= self.warmdown <= 1 or self.warmup < 0 or self.clip < 0 or not self.weight_decay >= 0:
            raise ValueError("need 0 <= warmdown <= 1, warmup >= 0, clip >= 0 and weight_decay >= 0")
        if self.dtype not in ("float32", "float64", "bfloat16", "auto"):
            raise ValueError(f"dtype must be float32, float64, bfloat16 or auto, got {self.dtype!r}")


COURSE_TRAIN = TrainConfig()


def make_optimizer(model: CharLM, train: TrainConfig) -> torch.optim.AdamW:
    """AdamW with two parameter groups: the recurrent and read-out weight matrices, decayed by
    ``train.weight_decay``, and everything else (biases, the embedding), not decayed."""
    decayed = [p for name, p in model.named_parameters() if p.dim() >= 2 and not name.startswith("embed.")]
    ids = {id(p) for p in decayed}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return torch.optim.AdamW([{"params": decayed, "weight_decay": train.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=train.lr)


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``auto`` -> ``bfloat16`` on a CPU with native bfloat16 instructions, else ``float32``; others unchanged.

    (On CUDA ``auto`` stays float32: the recurrent kernels' bfloat16 support depends on the cuDNN version.)
    """
    if dtype != "auto":
        return dtype
    if device.type == "cpu":
        native = any(getattr(torch.cpu, name, lambda: False)()
                     for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        return "bfloat16" if native else "float32"
    return "float32"


def char_label(ch: str) -> str:
    """A printable, single-line label for a character (for the projector and for tables)."""
    return {"\n": "\\n", "\t": "\\t", " ": "\u2423", "\r": "\\r"}.get(ch, ch if ch.isprintable() else repr(ch))


def _load_error(exc: Exception) -> str:
    if isinstance(exc, pickle.UnpicklingError):
        return "it holds objects other than tensors and plain containers, which are never loaded (weights_only=True)"
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"


def _sha256_ids(ids: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(ids, dtype=np.int64).tobytes()).hexdigest()


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def is_lm_checkpoint(directory: str | Path) -> bool:
    """Whether ``directory`` holds a :class:`CharLM` checkpoint (rather than a min-char-rnn one)."""
    return (Path(directory) / MODEL_FILE).is_file()


@dataclass
class LMCheckpoint:
    """A loaded checkpoint: the model (eval mode), its vocabulary, and config.json's content."""
    model: CharLM
    vocab: CharVocab
    config: dict[str, Any]


def _read_config(directory: Path) -> dict[str, Any]:
    missing = [n for n in (MODEL_FILE, VOCAB_FILE, CONFIG_FILE) if not (directory / n).is_file()]
    if missing:
        raise CheckpointError(f"{directory} is not a char-LM checkpoint folder: missing {', '.join(missing)} "
                              "(train one with `course charrnn train --model lstm --out DIR`)")
    try:
        config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{directory}: cannot read {CONFIG_FILE} ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{directory}: {CONFIG_FILE} is not a {FORMAT} checkpoint "
                              f"(format {config.get('format') if isinstance(config, dict) else None!r})")
    return config


def load_lm(directory: str | Path, vocab: CharVocab | None = None,
            device: str | torch.device | None = None) -> LMCheckpoint:
    """Restore a trained model for inference (tensors loaded with ``weights_only=True``).

    Raises :class:`~.checkpoint.CheckpointError` when files are missing or malformed, when
    ``vocab`` is given and differs from the checkpoint's, or when the weights do not fit the
    architecture recorded in config.json.
    """
    directory = Path(directory)
    config = _read_config(directory)
    try:
        stored = CharVocab.load(directory / VOCAB_FILE)
        lm_config = LMConfig.from_dict(config["lm"])
    except (ValueError, KeyError, OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{directory}: cannot read the checkpoint ({type(exc).__name__}: {exc})") from None
    if vocab is not None and vocab != stored:
        raise CheckpointError(f"{directory} was trained on a different vocabulary: {_vocab_difference(stored, vocab)}")
    if lm_config.vocab_size != len(stored):
        raise CheckpointError(f"{directory}: config.json says {lm_config.vocab_size} characters but vocab.json "
                              f"lists {len(stored)}; the files do not belong together")
    device = get_device(device)
    model = CharLM(lm_config)
    try:
        state = torch.load(directory / MODEL_FILE, map_location=device, weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, ValueError, KeyError, TypeError, pickle.UnpicklingError) as exc:
        if isinstance(exc, pickle.UnpicklingError):
            raise CheckpointError(f"{directory}: cannot load {MODEL_FILE}: {_load_error(exc)}") from None
        raise CheckpointError(f"{directory}: the weights in {MODEL_FILE} do not fit a {_describe(lm_config)} "
                              f"({_load_error(exc)})") from None
    return LMCheckpoint(model.to(device).eval(), stored, config)


def _describe(c: LMConfig) -> str:
    return f"{c.layers}-layer {c.cell.upper()} with {c.hidden} hidden units, embedding {c.embedding}, {c.vocab_size} characters"


@dataclass
class Progress:
    """Where a run is: steps done, epoch, position in the shards, characters seen, training seconds."""
    step: int = 0
    epoch: int = 0
    position: int = 0
    chars: int = 0
    seconds: float = 0.0


@dataclass
class History:
    """Curves of a run (steps, seconds of training, values), kept in config.json."""
    train: list[tuple[int, float, float]] = field(default_factory=list)   # (step, seconds, mean loss since last log)
    val: list[tuple[int, float, float]] = field(default_factory=list)     # (step, seconds, nats/char)
    lr: list[tuple[int, float]] = field(default_factory=list)
    grad_norm: list[tuple[int, float]] = field(default_factory=list)


class _StopFlag:
    """Turns the first SIGINT (Ctrl-C, Jupyter's interrupt) into a request to stop after the current step."""

    def __init__(self) -> None:
        self.requested = False

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:                       # a second Ctrl-C: stop at once
                signal.signal(signal.SIGINT, previous)
                raise KeyboardInterrupt
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class LMTrainer:
    """Train a :class:`CharLM` on character ids; checkpoint, resume, log to TensorBoard.

    Inputs:
    - train_ids: (N,) int ids of the training text; val_ids: (M,) held-out ids (may be empty)
    - vocab: the :class:`CharVocab` that encoded them; model: a :class:`LMConfig` (vocab_size must match)
    - train: a :class:`TrainConfig`; out: the run folder (checkpoints and event files), or None
    - tensorboard: write event files into ``out``; device: where to compute (default :func:`get_device`)
    - meta: extra JSON-able facts stored in config.json (e.g. the corpus name)
    - threads: CPU threads for torch while training: a number, or ``"auto"`` (default): a
      :class:`~course_utils.runtime.ThreadTuner` times one thread against all cores as training runs and
      keeps the faster (unless ``COURSE_TORCH_THREADS`` fixes the count). Not stored: a resumed run on
      another machine chooses afresh, and the count does not change the numbers computed.
    """

    def __init__(self, train_ids: np.ndarray, val_ids: np.ndarray, vocab: CharVocab, model: LMConfig,
                 train: TrainConfig = COURSE_TRAIN, *, out: str | Path | None = None, tensorboard: bool = True,
                 device: str | torch.device | None = None, meta: dict[str, Any] | None = None,
                 threads: int | str = "auto") -> None:
        ensure_thread_limits()
        if not (threads == "auto" or (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1)):
            raise ValueError(f"threads must be a positive number or 'auto', got {threads!r}")
        self.threads = threads
        self.thread_report: dict[str, Any] = {"threads": torch.get_num_threads(), "tuned": False}
        if model.vocab_size != len(vocab):
            raise ValueError(f"the model has {model.vocab_size} characters but the vocabulary {len(vocab)}")
        self.device = get_device(device)
        train = replace(train, dtype=resolve_dtype(train.dtype, self.device))
        self.vocab, self.lm_config, self.config = vocab, model, train
        self.train_ids = np.ascontiguousarray(train_ids, dtype=np.int64)
        self.val_ids = np.ascontiguousarray(val_ids, dtype=np.int64)
        B, T = train.batch_size, train.seq_length
        S = len(self.train_ids) // B
        if S < T + 1:
            raise ValueError(f"the training text has {len(self.train_ids)} characters: too short for batch_size={B} "
                             f"shards of at least seq_length + 1 = {T + 1}; use a longer text, a smaller batch or "
                             "a shorter seq_length")
        self.meta = dict(meta or {})
        self.data_sha256 = _sha256_ids(self.train_ids)
        self.grid = torch.as_tensor(self.train_ids[: B * S]).view(B, S).to(self.device)
        torch.manual_seed(train.seed)
        self.model = CharLM(model).to(self.device)
        if train.dtype == "float64":
            self.model = self.model.double()
        self.optimizer = make_optimizer(self.model, train)
        self.sample_rng = np.random.default_rng(train.seed)
        self.state: State | None = None
        self.progress = Progress()
        self.history = History()
        self.out = Path(out) if out is not None else None
        self.tensorboard = tensorboard and self.out is not None
        self._logger = None
        self._stop = _StopFlag()

    # ------------------------------------------------------------ schedule

    def learning_rate(self, epoch: int, step: int, fraction: float) -> float:
        """``lr * lr_decay**epoch``, times the warm-up ramp and the warm-down ramp (``fraction`` of the budget used)."""
        c = self.config
        lr = c.lr * c.lr_decay ** epoch
        if c.warmup and step < c.warmup:
            lr *= (step + 1) / c.warmup
        if c.warmdown > 0 and fraction > 1 - c.warmdown:
            lr *= max(0.0, (1 - fraction) / c.warmdown)
        return lr

    # ------------------------------------------------------------ checkpoints

    def _config_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "model": self.lm_config.cell, "lm": self.lm_config.to_dict(),
                "train": asdict(self.config), "progress": asdict(self.progress),
                "history": asdict(self.history), "data_sha256": self.data_sha256,
                "train_chars": int(len(self.train_ids)), "val_chars": int(len(self.val_ids)),
                "sample_rng": self.sample_rng.bit_generator.state, "meta": self.meta}

    def save(self, directory: str | Path | None = None) -> Path:
        """Write a checkpoint (atomically, file by file) into ``directory`` (default: ``out``); returns it."""
        directory = Path(directory) if directory is not None else self.out
        if directory is None:
            raise ValueError("give a folder to save into (the trainer has no `out`)")
        directory.mkdir(parents=True, exist_ok=True)
        trainer_state = {"optimizer": self.optimizer.state_dict(), "torch_rng": torch.get_rng_state(),
                         "state": None if self.state is None else
                         (list(self.state) if isinstance(self.state, tuple) else [self.state])}
        _atomic_write(directory / MODEL_FILE, lambda p: torch.save(self.model.state_dict(), p))
        _atomic_write(directory / TRAINER_FILE, lambda p: torch.save(trainer_state, p))
        _atomic_write(directory / VOCAB_FILE, lambda p: self.vocab.save(p))
        _atomic_write(directory / CONFIG_FILE, lambda p: p.write_text(
            json.dumps(self._config_json(), indent=1) + "\n", encoding="utf-8"))
        return directory

    @classmethod
    def resume(cls, directory: str | Path, train_ids: np.ndarray, val_ids: np.ndarray, vocab: CharVocab, *,
               model: LMConfig | None = None, train: TrainConfig | None = None, tensorboard: bool = True,
               device: str | torch.device | None = None, threads: int | str = "auto") -> "LMTrainer":
        """Continue the run saved in ``directory`` on the same data, exactly where it stopped.

        ``model`` / ``train``, when given, must equal the checkpoint's settings (a resumed run keeps
        them); any difference, another vocabulary or other training text raises
        :class:`~.checkpoint.CheckpointError` naming what differs.
        """
        directory = Path(directory)
        ckpt = load_lm(directory, vocab=vocab, device=device)
        cfg = ckpt.config
        lm_config = ckpt.model.config
        if model is not None and model != lm_config:
            diff = {k: (v, getattr(model, k)) for k, v in lm_config.to_dict().items() if getattr(model, k) != v}
            raise CheckpointError(f"{directory} holds a {_describe(lm_config)}, not the model asked for: "
                                  + ", ".join(f"{k} {a} in the checkpoint vs {b}" for k, (a, b) in diff.items()))
        stored_train = TrainConfig(**cfg["train"])
        if train is not None and train != stored_train:
            diff = [f"{f.name} {getattr(stored_train, f.name)} in the checkpoint vs {getattr(train, f.name)}"
                    for f in fields(TrainConfig) if getattr(stored_train, f.name) != getattr(train, f.name)]
            raise CheckpointError(f"{directory}: a resumed run keeps its training settings; these differ: "
                                  + ", ".join(diff))
        if cfg.get("data_sha256") != _sha256_ids(np.asarray(train_ids, dtype=np.int64)):
            raise CheckpointError(f"{directory} was trained on other text (same characters, different content or "
                                  f"length: {cfg.get('train_chars')} training characters then, {len(train_ids)} now); "
                                  "resume with the same corpus and --max-chars / --val-fraction")
        self = cls(train_ids, val_ids, vocab, lm_config, stored_train, out=directory, tensorboard=tensorboard,
                   device=device, meta=cfg.get("meta"), threads=threads)
        self.model.load_state_dict(ckpt.model.state_dict())
        self.model.train()
        try:
            ts = torch.load(directory / TRAINER_FILE, map_location=self.device, weights_only=True)
            groups = len(ts["optimizer"]["param_groups"])
            if groups != len(self.optimizer.param_groups):
                raise CheckpointError(f"{directory}: the optimizer state has {groups} parameter group(s), this "
                                      f"trainer's AdamW has {len(self.optimizer.param_groups)} (a checkpoint of an "
                                      "earlier version of the trainer); it cannot be resumed exactly, but "
                                      "`course charrnn sample` and load_lm still read it") from None
            self.optimizer.load_state_dict(ts["optimizer"])
            torch.set_rng_state(ts["torch_rng"].cpu())
            st = ts["state"]
        except CheckpointError:
            raise
        except (RuntimeError, OSError, KeyError, ValueError, TypeError, pickle.UnpicklingError) as exc:
            raise CheckpointError(f"{directory}: cannot restore the training state from {TRAINER_FILE} "
                                  f"({_load_error(exc)})") from None
        self.state = None if st is None else (tuple(st) if lm_config.cell == "lstm" else st[0])
        self.sample_rng.bit_generator.state = cfg["sample_rng"]
        self.progress = Progress(**cfg["progress"])
        h = cfg["history"]
        self.history = History(**{k: [tuple(x) for x in v] for k, v in h.items()})
        return self

    # ------------------------------------------------------------ logging

    def logger(self):
        """The run's :class:`~course_utils.monitoring.TensorBoardLogger` (None without ``out`` or with tensorboard off)."""
        if self._logger is None and self.tensorboard:
            from ..monitoring import TensorBoardLogger
            self._logger = TensorBoardLogger(self.out, flush_secs=5)
        return self._logger

    def sample(self, n: int = 200, prime: str | None = None, temperature: float = 1.0,
               rng: np.random.Generator | None = None) -> str:
        """Sample ``n`` characters after ``prime`` (default: a newline when the vocabulary has one)."""
        if prime is None:
            prime = "\n" if "\n" in self.vocab.stoi else self.vocab.chars[0]
        ids = sample_ids(self.model, self.vocab.encode(prime), n, rng if rng is not None else self.sample_rng,
                         temperature=temperature)
        return prime + self.vocab.decode(ids)

    def evaluate(self, max_chars: int | None = None) -> float:
        """Held-out nats per character (NaN when there is no held-out text); always in the weights' own precision."""
        if len(self.val_ids) < 4:
            return float("nan")
        return evaluate(self.model, self.val_ids, max_chars=max_chars)

    def _autocast(self):
        if self.config.dtype == "bfloat16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        from contextlib import nullcontext
        return nullcontext()

    def log_embedding(self) -> None:
        """Send the character embedding (V, E) with its labels to TensorBoard's projector."""
        lg = self.logger()
        if lg is not None:
            lg.writer.add_embedding(self.model.embed.weight.detach().float().cpu(),
                                    metadata=[char_label(c) for c in self.vocab.chars],
                                    tag="char_embedding", global_step=self.progress.step)

    # ------------------------------------------------------------ training

    def fit(self, *, iters: int | None = None, seconds: float | None = None, clock: str = "wall",
            progress: bool = True, callback: Callable[[int, dict[str, float]], Any] | None = None,
            final_eval: bool = True) -> dict[str, Any]:
        """Train until the run has done ``iters`` steps or ``seconds`` of training in all (whichever first).

        Both are totals over the run, so a resumed run continues to the same target.
        - clock: ``"wall"`` (time.perf_counter) or ``"cpu"`` (this process's CPU time: a load-independent
          budget on a shared machine); evaluation, sampling, logging and checkpoints are not counted
        - callback: ``callback(step, metrics)`` at every log step (metrics: train_loss, lr, grad_norm, and
          val when evaluated); return True to stop after this step (as Ctrl-C does)
        Returns a summary (see :meth:`summary`). A checkpoint is written at the end when ``out`` is set.
        """
        if iters is None and seconds is None:
            raise ValueError("give a number of steps (iters) or of seconds to train for")
        if (iters is not None and iters < 0) or (seconds is not None and seconds < 0):
            raise ValueError("iters and seconds must be non-negative")
        if clock not in ("wall", "cpu"):
            raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
        now = time.perf_counter if clock == "wall" else time.process_time
        c, pr, model = self.config, self.progress, self.model
        B, T, S = c.batch_size, c.seq_length, self.grid.shape[1]
        params = [p for p in model.parameters()]
        model.train()
        lg = self.logger()
        if lg is not None and pr.step == 0:
            lg.text("config", "    " + json.dumps({"lm": self.lm_config.to_dict(), "train": asdict(c)}), 0)
        start_chars, start_secs, start_step = pr.chars, pr.seconds, pr.step
        loss_sum, loss_n, last_norm = 0.0, 0, float("nan")
        self._stop.requested = False
        stop_reason = "budget"

        def fraction() -> float:
            f = 0.0
            if iters:
                f = max(f, pr.step / iters)
            if seconds:
                f = max(f, pr.seconds / seconds)
            return min(f, 1.0)

        def done() -> bool:
            return (iters is not None and pr.step >= iters) or (seconds is not None and pr.seconds >= seconds)

        bar = tqdm(total=iters, initial=min(pr.step, iters or pr.step), disable=not progress,
                   desc=f"{self.lm_config.cell} {self.lm_config.layers}x{self.lm_config.hidden}", unit="step",
                   leave=True, mininterval=0.5)
        with self._stop.installed(), bar, training_threads(self.threads, self.device) as tuner:
            while not done():
                t0, w0 = now(), time.perf_counter()
                if pr.position + T + 1 > S:          # the shards are used up: a new epoch
                    pr.epoch += 1
                    pr.position = 0
                    self.state = None
                lr = self.learning_rate(pr.epoch, pr.step, fraction())
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                x = self.grid[:, pr.position: pr.position + T]
                y = self.grid[:, pr.position + 1: pr.position + T + 1]
                with self._autocast():
                    logits, state = model(x, self.state)
                    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.clip > 0:
                    norm = float(torch.nn.utils.clip_grad_norm_(params, c.clip))
                else:
                    norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])))
                self.optimizer.step()
                self.state = detach_state(state)
                lv = loss.item()
                if not math.isfinite(lv):
                    raise FloatingPointError(f"the loss became {lv} at step {pr.step}: lower the learning rate")
                pr.step += 1
                pr.position += T
                pr.chars += B * T
                pr.seconds += now() - t0
                if tuner is not None:
                    tuner.record(time.perf_counter() - w0)
                loss_sum, loss_n, last_norm = loss_sum + lv, loss_n + 1, norm
                bar.update(1)
                stop = self._stop.requested
                if c.log_every and pr.step % c.log_every == 0:
                    metrics = {"train_loss": loss_sum / loss_n, "lr": lr, "grad_norm": last_norm}
                    loss_sum, loss_n = 0.0, 0
                    self.history.train.append((pr.step, round(pr.seconds, 3), metrics["train_loss"]))
                    self.history.lr.append((pr.step, lr))
                    self.history.grad_norm.append((pr.step, norm))
                    if c.eval_every and pr.step % c.eval_every == 0:
                        metrics["val"] = self.evaluate(c.eval_chars)
                        self.history.val.append((pr.step, round(pr.seconds, 3), metrics["val"]))
                    self._log(metrics)
                    bar.set_postfix(loss=f"{metrics['train_loss']:.3f}", refresh=False)
                    if callback is not None and callback(pr.step, metrics):
                        stop = True
                if lg is not None and c.histogram_every and pr.step % c.histogram_every == 0:
                    lg.histograms(model, pr.step)
                if lg is not None and c.sample_every and pr.step % c.sample_every == 0:
                    lg.text("samples", "    " + self.sample(c.sample_length).replace("\n", "\n    "), pr.step)
                if self.out is not None and c.checkpoint_every and pr.step % c.checkpoint_every == 0:
                    self.save()
                if stop or self._stop.requested:
                    stop_reason = "interrupted" if self._stop.requested else "callback"
                    break
            self.thread_report = tuner.summary() if tuner is not None else \
                {"threads": torch.get_num_threads(), "tuned": False}
        run_chars, run_secs = pr.chars - start_chars, pr.seconds - start_secs
        val = float("nan")
        if final_eval:
            val = self.evaluate()
            if not self.history.val or self.history.val[-1][0] != pr.step:
                self.history.val.append((pr.step, round(pr.seconds, 3), val))
                self._log({"val": val})
            else:
                self.history.val[-1] = (pr.step, round(pr.seconds, 3), val)
        self.log_embedding()
        if lg is not None:
            lg.flush()
        if self.out is not None:
            self.save()
        return self.summary(val, run_chars, run_secs, pr.step - start_step, stop_reason, clock)

    def _log(self, metrics: dict[str, float]) -> None:
        lg = self.logger()
        if lg is None:
            return
        named = {"train__loss": metrics.get("train_loss"), "lr": metrics.get("lr"),
                 "grad_norm": metrics.get("grad_norm"), "val__nats_per_char": metrics.get("val")}
        lg.scalars(self.progress.step, **{k: v for k, v in named.items() if v is not None and math.isfinite(v)})

    def summary(self, val: float, run_chars: int, run_secs: float, run_steps: int, stop_reason: str,
                clock: str) -> dict[str, Any]:
        """What ``--json`` prints: settings, speed, train and validation nats/char, where things are."""
        recent = [v for _, _, v in self.history.train[-10:]]
        return {"model": self.lm_config.cell, "layers": self.lm_config.layers, "hidden": self.lm_config.hidden,
                "embedding": self.lm_config.embedding, "dropout": self.lm_config.dropout,
                "parameters": self.model.n_params, "vocab_size": len(self.vocab),
                "batch_size": self.config.batch_size, "seq_length": self.config.seq_length, "lr": self.config.lr,
                "lr_decay": self.config.lr_decay, "warmdown": self.config.warmdown, "clip": self.config.clip,
                "weight_decay": self.config.weight_decay,
                "dtype": self.config.dtype, "seed": self.config.seed,
                "steps": self.progress.step, "epochs": round(self.progress.step and
                                                            self.progress.chars / (self.grid.numel() or 1), 3),
                "steps_this_run": run_steps, "seconds": round(self.progress.seconds, 3), "clock": clock,
                "chars_per_second": round(run_chars / run_secs, 1) if run_secs > 0 else None,
                "train_nats_per_char": round(float(np.mean(recent)), 4) if recent else None,
                "val_nats_per_char": round(val, 4) if math.isfinite(val) else None,
                "train_chars": int(len(self.train_ids)), "val_chars": int(len(self.val_ids)),
                "device": str(self.device), "stopped": stop_reason,
                **self.thread_report,
                "checkpoint": str(self.out) if self.out is not None else None,
                "tensorboard": str(self.out) if self.tensorboard else None, **self.meta}

    def close(self) -> None:
        if self._logger is not None:
            self._logger.close()
            self._logger = None

    def __enter__(self) -> "LMTrainer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def configs_from(model: str, vocab_size: int, **overrides: Any) -> tuple[LMConfig, TrainConfig]:
    """The course defaults (:data:`COURSE_LM`, :data:`COURSE_TRAIN`) with ``overrides`` applied (None = keep)."""
    lm_keys = {f.name for f in fields(LMConfig)}
    tr_keys = {f.name for f in fields(TrainConfig)}
    unknown = set(overrides) - lm_keys - tr_keys
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    lm = {**COURSE_LM, "cell": model, **{k: v for k, v in overrides.items() if k in lm_keys and v is not None}}
    tr = replace(COURSE_TRAIN, **{k: v for k, v in overrides.items() if k in tr_keys and v is not None})
    return LMConfig(vocab_size=vocab_size, **lm), tr
