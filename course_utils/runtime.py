"""Runtime helpers: which device to use, how to seed, which dtype.

Every model and trainer in the package takes a ``device`` argument whose default is
:func:`get_device`, so the same code runs on a laptop CPU and on a CUDA GPU.
Set the environment variable ``COURSE_DEVICE`` (``cpu``, ``cuda``, ``cuda:1`` ...) to override.

CPU threads: the course's NumPy and PyTorch workloads are small matrices (hidden sizes of 100 to 512,
batches of 32), where OpenBLAS and OpenMP threads cost more in hand-offs than they gain, and are
disastrous when another process keeps a core busy (20x slower measured on 2 cores). So
:func:`limit_threads` pins BLAS and torch to **one thread** unless ``COURSE_BLAS_THREADS`` /
``COURSE_TORCH_THREADS`` say otherwise (a number, or ``auto`` for the libraries' own default).
The ``course`` command, the trainers and :func:`course_utils.plotting.setup_notebook` call it.
"""

from __future__ import annotations

import os
import random
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

__all__ = ["get_device", "limit_threads", "ensure_thread_limits", "thread_settings", "torch_threads_fixed",
           "ThreadTuner", "training_threads", "seed_everything", "set_deterministic", "to_tensor", "as_numpy", "DTYPES"]

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def get_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on.

    Order: the ``preferred`` argument, then ``$COURSE_DEVICE``, then CUDA when available, else CPU.
    Asking for CUDA on a machine without it raises a ``RuntimeError`` that says so.
    """
    choice = preferred if preferred is not None else os.environ.get("COURSE_DEVICE")
    if choice is None or str(choice) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(choice)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device} was requested but CUDA is not available on this machine; "
            "use 'cpu' or unset COURSE_DEVICE"
        )
    return device


_BLAS_LIMITER = None          # the threadpoolctl limiter in force (kept alive so it can be inspected)
_CONFIGURED = False


def _threads_from_env(name: str, default: int) -> int | None:
    """Parse ``$name``: a positive integer, or ``auto`` (None: leave the library's default)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() == "auto":
        return None
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{name}={raw!r}: give a number of threads (1, 2, ...) or 'auto'")
    return n


def limit_threads(blas: int | str | None = "env", torch_threads: int | str | None = "env") -> dict[str, int | None]:
    """Set the number of CPU threads of BLAS (NumPy's OpenBLAS/MKL) and of torch, for this process.

    - blas, torch_threads: a positive number; ``None`` leaves that library alone; ``"env"`` (default)
      reads ``COURSE_BLAS_THREADS`` / ``COURSE_TORCH_THREADS`` (unset: 1; ``auto``: leave alone)
    Returns the settings now in force, e.g. ``{"blas": 1, "torch": 1}`` (see :func:`thread_settings`).
    BLAS is limited through ``threadpoolctl`` (the libraries NumPy has loaded); it lasts for the process.
    """
    global _BLAS_LIMITER, _CONFIGURED
    if blas == "env":
        blas = _threads_from_env("COURSE_BLAS_THREADS", 1)
    if torch_threads == "env":
        torch_threads = _threads_from_env("COURSE_TORCH_THREADS", 1)
    for name, n in (("blas", blas), ("torch_threads", torch_threads)):
        if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
            raise ValueError(f"{name} must be a positive number of threads or None, got {n!r}")
    if blas is not None:
        from threadpoolctl import threadpool_limits

        _BLAS_LIMITER = threadpool_limits(limits=int(blas), user_api="blas")
    if torch_threads is not None and torch.get_num_threads() != int(torch_threads):
        torch.set_num_threads(int(torch_threads))
    _CONFIGURED = True
    return thread_settings()


def ensure_thread_limits() -> None:
    """Apply :func:`limit_threads` from the environment once per process, unless already done.

    The trainers call this, so a script that never called :func:`limit_threads` still gets the
    fast default, and a notebook that chose its own setting keeps it.
    """
    if not _CONFIGURED:
        limit_threads()


def thread_settings() -> dict[str, int | None]:
    """The threads in use now: ``{"blas": n or None when no BLAS is loaded, "torch": n}``."""
    from threadpoolctl import threadpool_info

    blas = [lib["num_threads"] for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"blas": max(blas) if blas else None, "torch": torch.get_num_threads()}


def torch_threads_fixed() -> bool:
    """True when ``COURSE_TORCH_THREADS`` names a thread count (or ``auto``): the user chose; don't tune."""
    return bool(os.environ.get("COURSE_TORCH_THREADS", "").strip())


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:                     # not Linux
        return os.cpu_count() or 1


class ThreadTuner:
    """Choose torch's CPU thread count by timing the loop that uses it -- and keep choosing.

    Two threads train unit 8's char LM about 1.3x faster than one on a quiet 2-core machine, and
    about 3x *slower* when another process keeps one core busy (OpenMP's threads wait for each
    other). No fixed setting is best in both cases, so a trainer measures instead:

    1. probe: run ``settle`` + ``probe`` steps with each candidate count and take the median step time;
    2. run with the fastest;
    3. after ``interval`` seconds, probe the others again; a challenger must be 5 % faster to win.
       Each time the current choice holds, the wait doubles (up to ``max_interval``); a switch
       resets it, so a load that starts or stops mid-run is followed within seconds.

    On a busy machine the probes cost a few per cent of the run. Usage, around each training step::

        tuner = ThreadTuner()            # candidates: 1 and the number of usable cores
        ...  t0 = time.perf_counter(); step(); tuner.record(time.perf_counter() - t0)
        tuner.close()                    # the thread count from before, and a summary

    Changing the count does not change the numbers on the CPUs tested (``tests/test_threads.py``
    checks that one and two threads train the char LM to bit-identical parameters).
    """

    def __init__(self, candidates: Sequence[int] | None = None, *, probe: int = 10, settle: int = 2,
                 interval: float = 5.0, max_interval: float = 80.0, margin: float = 0.05) -> None:
        cores = _usable_cores()
        cands = sorted({int(c) for c in (candidates if candidates is not None else (1, cores))})
        if not cands or cands[0] < 1:
            raise ValueError(f"candidates must be positive thread counts, got {candidates!r}")
        if probe < 1 or settle < 0 or not 0 < interval <= max_interval:
            raise ValueError("need probe >= 1, settle >= 0 and 0 < interval <= max_interval")
        self.candidates = cands
        self.probe, self.settle, self.margin = probe, settle, margin
        self.base_interval, self.max_interval = interval, max_interval
        self.interval = interval
        self.original = torch.get_num_threads()
        self.current = self.original if self.original in cands else cands[-1]
        self.median: dict[int, float] = {}
        self.steps: dict[int, int] = {c: 0 for c in cands}
        self.switches = 0
        self._pending = [c for c in cands if c != self.current] if len(cands) > 1 else []
        self._testing = self.current if self._pending else None
        self._times: list[float] = []
        self._skip = settle
        self._since = 0.0
        self._recent: list[float] = []
        self._set(self.current)

    @staticmethod
    def _set(n: int) -> None:
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)

    @property
    def threads(self) -> int:
        """The count in use for the next step."""
        return torch.get_num_threads()

    def record(self, seconds: float) -> None:
        """Report the duration of the step just run; may change the thread count for the next one."""
        n = torch.get_num_threads()
        self.steps[n] = self.steps.get(n, 0) + 1
        if self._testing is None:                       # running with the chosen count
            self._recent = (self._recent + [seconds])[-self.probe:]
            self._since += seconds
            if len(self.candidates) > 1 and self._since >= self.interval:
                self.median[self.current] = statistics.median(self._recent)
                self._pending = [c for c in self.candidates if c != self.current]
                self._start_probe(self._pending.pop(0))
            return
        if self._skip > 0:                              # the first steps after a switch are not typical
            self._skip -= 1
            return
        self._times.append(seconds)
        if len(self._times) < self.probe:
            return
        self.median[self._testing] = statistics.median(self._times)
        if self._pending:
            self._start_probe(self._pending.pop(0))
            return
        self._decide()

    def _start_probe(self, n: int) -> None:
        self._testing, self._times, self._skip = n, [], self.settle
        self._set(n)

    def _decide(self) -> None:
        best = min(self.median, key=self.median.get)
        if best != self.current and self.median[best] < (1 - self.margin) * self.median[self.current]:
            self.current, self.interval = best, self.base_interval
            self.switches += 1
        else:
            self.interval = min(2 * self.interval, self.max_interval)
        self._testing, self._since, self._recent = None, 0.0, []
        self._set(self.current)

    def summary(self) -> dict[str, object]:
        """What was chosen, how many steps ran with each count, the median step times measured."""
        return {"threads": self.current, "tuned": True, "steps_per_thread_count": dict(self.steps),
                "median_step_seconds": {k: round(v, 5) for k, v in sorted(self.median.items())},
                "switches": self.switches}

    def close(self) -> dict[str, object]:
        """Restore the thread count from before; return :meth:`summary`."""
        self._set(self.original)
        return self.summary()


@contextmanager
def training_threads(threads: int | str, device: torch.device) -> Iterator[ThreadTuner | None]:
    """Torch's CPU threads for the length of a training loop, restored afterwards.

    ``"auto"`` on a CPU yields a :class:`ThreadTuner` (call its ``record`` after each step) unless
    ``COURSE_TORCH_THREADS`` fixes the count; a number sets that count. Yields None when nothing is tuned.
    """
    before = torch.get_num_threads()
    tuner = None
    if device.type == "cpu":
        if threads == "auto" and not torch_threads_fixed():
            tuner = ThreadTuner()
        elif isinstance(threads, int):
            torch.set_num_threads(threads)
    try:
        yield tuner
    finally:
        if tuner is not None:
            tuner.close()
        torch.set_num_threads(before)


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed Python, NumPy's legacy global RNG and torch (CPU and CUDA).

    Returns a fresh ``np.random.Generator`` seeded with the same value, for code that
    prefers explicit generators.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def set_deterministic(enabled: bool = True, threads: int | None = None) -> None:
    """Ask torch for deterministic kernels (and optionally fix the CPU thread count).

    On CUDA this also sets ``CUBLAS_WORKSPACE_CONFIG`` as torch requires.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
    if threads is not None:
        torch.set_num_threads(int(threads))


def to_tensor(x: np.ndarray | torch.Tensor | list | float, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None) -> torch.Tensor:
    """Convert an array-like to a tensor on ``device`` (default :func:`get_device`) with ``dtype``."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; choose one of {sorted(DTYPES)}")
        dtype = DTYPES[dtype]
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(device=get_device(device), dtype=dtype if dtype is not None else t.dtype)


def as_numpy(x: torch.Tensor | np.ndarray | list | float) -> np.ndarray:
    """Return a NumPy array for a tensor (any device, detached) or array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
