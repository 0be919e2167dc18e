"""Run every path on the CPU and on another device, compare, and print the table (``make gpu-check``).

The reference side is the CPU with the course's thread setting (one torch thread unless
``COURSE_TORCH_THREADS`` says otherwise, :func:`course_utils.runtime.limit_threads`). The other side is
``--device``: ``cuda`` (default), ``cuda:1`` ..., or ``cpu`` -- the CPU again with ``--threads`` threads, which
exercises the whole comparison on a machine without a GPU. Both compute in float32; on CUDA, TF32 is switched
off for the run (``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32``), so both
sides do the same arithmetic and only the order of sums differs. CUDA times exclude the start-up of the CUDA
context and of cuDNN (a warm-up runs first); each time is one run, moving the model and inputs included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .compare import TOLERANCES, Measure, tolerance_table
from .paths import GROUPS, Fixtures, Path, build_paths, quiet

__all__ = ["PathReport", "run_checks", "format_table", "main", "no_cuda_message"]


@dataclass
class PathReport:
    """The outcome of one path: measures (empty when skipped or failed), times, an error or a skip reason."""
    group: str
    name: str
    measures: list[Measure] = field(default_factory=list)
    ref_seconds: float = math.nan
    other_seconds: float = math.nan
    error: str | None = None
    skip: str | None = None
    results: tuple[dict, dict] | None = None       # (reference, other) with ``keep_results``

    @property
    def ok(self) -> bool:
        if self.skip is not None:
            return True
        return self.error is None and bool(self.measures) and all(m.ok for m in self.measures)

    def as_dict(self) -> dict:
        return {"group": self.group, "name": self.name, "ok": self.ok, "ref_seconds": self.ref_seconds,
                "other_seconds": self.other_seconds, "error": self.error, "skip": self.skip,
                "measures": [m.as_dict() for m in self.measures]}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """float32 matrix products and convolutions on CUDA (TF32 off), restored afterwards."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[0], saved[1]
        torch.set_float32_matmul_precision(saved[2])


#: Layers whose output :func:`emulated_rounding` perturbs: where another device's kernels sum in another order.
_EMULATED = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.RNNBase, torch.nn.modules.batchnorm._BatchNorm)


def _perturb(value, rel: float, gen: torch.Generator):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value * (1 + rel * torch.randn(value.shape, generator=gen, dtype=value.dtype))
    if isinstance(value, tuple) and not hasattr(value, "_fields"):     # (out, h) or (h, c); not a PackedSequence
        return tuple(_perturb(v, rel, gen) for v in value)
    return value


@contextlib.contextmanager
def emulated_rounding(rel: float | None, seed: int = 0) -> Iterator[None]:
    """Within the block, multiply the output of every convolution, linear, recurrent and batch-norm layer by
    ``1 + rel * N(0, 1)`` (a fixed-seed CPU generator): a model, on the CPU, of another device whose kernels
    round differently (float32 sums of a few hundred terms in another order differ by about 1e-7 to 1e-6
    relative). The perturbation is part of the graph, so gradients are perturbed too. ``None``: nothing."""
    if not rel:
        yield
        return
    gen = torch.Generator().manual_seed(seed)

    def hook(module: torch.nn.Module, args, output):
        return _perturb(output, rel, gen) if isinstance(module, _EMULATED) else None

    handle = torch.nn.modules.module.register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _warm_up(device: torch.device) -> None:
    """Start CUDA, cuBLAS and cuDNN (convolution and the three recurrent cells) before anything is timed."""
    if device.type != "cuda":
        return
    x = torch.randn(4, 1, 32, 32, device=device, requires_grad=True)
    conv = torch.nn.Conv2d(1, 4, 3, padding=1).to(device)
    conv(x).sum().backward()
    for cell in (torch.nn.RNN, torch.nn.LSTM, torch.nn.GRU):
        rnn = cell(8, 8, batch_first=True).to(device)
        rnn(torch.randn(2, 5, 8, device=device))[0].sum().backward()
    torch.nn.Linear(8, 8).to(device)(torch.randn(3, 8, device=device)).sum().backward()
    _sync(device)


def _timed(path: Path, device: torch.device, threads: int | None, emulate: float | None = None) -> tuple[dict, float]:
    with _threads(threads), emulated_rounding(emulate):
        _sync(device)
        t0 = time.perf_counter()
        result = path.run(device)
        _sync(device)
        return result, time.perf_counter() - t0


def run_checks(device: str | torch.device, *, quick: bool = False, groups: Sequence[str] = GROUPS,
               threads: int | None = None, progress: Callable[[PathReport], Any] | None = None,
               keep_results: bool = False, emulate_rounding: float | None = None) -> list[PathReport]:
    """Run every path of ``groups`` on the CPU (reference) and on ``device``; return one report per path.

    - device: ``"cuda"``, ``"cuda:N"`` or ``"cpu"`` (then the other side is the CPU with ``threads`` threads,
      default all usable cores and at least 2)
    - quick: the reduced set (smaller inputs, fewer steps) the test suite runs
    - progress: called with each finished :class:`PathReport` (e.g. to print a line as it goes)
    - keep_results: keep both sides' raw results in ``PathReport.results``
    - emulate_rounding: with ``device="cpu"``, the second side runs under :func:`emulated_rounding` of this size
    """
    from ..runtime import limit_threads
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(no_cuda_message())
    if emulate_rounding is not None and (dev.type != "cpu" or not emulate_rounding > 0):
        raise ValueError("emulate_rounding is a positive relative size, for device='cpu' only")
    limit_threads()                                    # the reference: the course's own thread setting
    other_threads = None
    if dev.type == "cpu":
        other_threads = threads or max(2, _usable_cores())
    fixtures = Fixtures(quick)
    reports = []
    with full_float32():
        _warm_up(dev)
        for path in build_paths(fixtures, tuple(groups)):
            report = PathReport(path.group, path.name, skip=path.skip)
            if path.skip is None:
                try:
                    if path.prepare is not None:
                        with quiet():
                            path.prepare()
                    ref, report.ref_seconds = _timed(path, torch.device("cpu"), None)
                    other, report.other_seconds = _timed(path, dev, other_threads, emulate_rounding)
                    report.measures = path.compare(ref, other)
                    if keep_results:
                        report.results = (ref, other)
                except Exception as exc:            # a path that fails on a device is a finding, not a crash
                    report.error = f"{type(exc).__name__}: {exc}"
                    report.measures = []
                    if os.environ.get("COURSE_GPU_CHECK_TRACEBACK"):
                        traceback.print_exc()
            reports.append(report)
            if progress is not None:
                progress(report)
    return reports


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def no_cuda_message() -> str:
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return (f"gpu-check: no CUDA device here (torch {torch.__version__}, {build}); nothing to compare, "
            "skipped (`--device cpu` runs the comparison CPU against CPU)")


def side_names(device: torch.device, threads: int | None) -> tuple[str, str]:
    ref = f"CPU {torch.get_num_threads()}t"
    if device.type == "cpu":
        return ref, f"CPU {threads or max(2, _usable_cores())}t"
    return ref, "CUDA"


def _seconds(s: float) -> str:
    return "-" if not math.isfinite(s) else f"{s:.2f}"


def format_table(reports: list[PathReport], ref_name: str, other_name: str) -> str:
    """The reports as a fixed-width table: one line per measure, the path's times on its first line."""
    head = ("path", "measure (rule)", "value", "tolerance", "", f"{ref_name} s", f"{other_name} s", "ratio")
    rows = []
    for r in reports:
        times = (_seconds(r.ref_seconds), _seconds(r.other_seconds),
                 f"{r.ref_seconds / r.other_seconds:.1f}x" if r.other_seconds > 0 and math.isfinite(r.ref_seconds)
                 else "-")
        label = f"{r.group}: {r.name}"
        if r.skip is not None:
            rows.append((label, f"not compared: {r.skip}", "", "", "skip", "", "", ""))
            continue
        if r.error is not None:
            rows.append((label, f"ERROR {r.error}", "", "", "FAIL", *times))
            continue
        for i, m in enumerate(r.measures):
            rows.append((label if i == 0 else "", f"{m.what} ({m.rule})", m.value_text(), TOLERANCES[m.rule].text(),
                         "ok" if m.ok else "FAIL", *(times if i == 0 else ("", "", ""))))
    widths = [min(max(len(row[k]) for row in [head, *rows]), 58 if k < 2 else 20) for k in range(len(head))]
    right = {2, 5, 6, 7}

    def fmt(row: tuple) -> str:
        cells = [(c.rjust(w) if k in right else c.ljust(w)) if len(c) <= w else c
                 for k, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    return "\n".join([fmt(head), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def _header(dev: torch.device, other_threads: int | None, quick: bool, emulate: float | None = None) -> str:
    if dev.type == "cuda":
        other = (f"{dev} ({torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}, "
                 f"cuDNN {torch.backends.cudnn.version()})")
    else:
        other = f"the CPU with {other_threads} torch thread(s)"
        if emulate:
            other += f" and every layer's output perturbed by {emulate:g} relative (emulated rounding)"
    return (f"gpu-check: CPU ({platform.machine()}, {torch.get_num_threads()} torch thread(s)) against {other}; "
            f"torch {torch.__version__}, float32 with TF32 off, {'quick' if quick else 'full'} set\n"
            "Same weights and inputs on both sides (copied from the CPU); ratio = CPU time / other time.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.gpu_check", description=(
        "Run every PyTorch path of the course on the CPU and on a GPU, compare the results within stated "
        "tolerances, and show the times side by side."))
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu: CPU against CPU with "
                                                          "--threads threads (checks the harness without a GPU)")
    parser.add_argument("--quick", action="store_true", help="the reduced set: smaller inputs, fewer steps")
    parser.add_argument("--only", nargs="+", choices=GROUPS, metavar="GROUP",
                        help=f"only these groups ({', '.join(GROUPS)})")
    parser.add_argument("--threads", type=int, help="with --device cpu: torch threads of the second side "
                                                    "(default: all usable cores, at least 2)")
    parser.add_argument("--emulate-rounding", type=float, metavar="REL",
                        help="with --device cpu: the second side multiplies every convolution, linear, recurrent "
                             "and batch-norm output by 1 + REL * N(0, 1), a model of another device's rounding "
                             "(e.g. 1e-6)")
    parser.add_argument("--json", metavar="FILE", help="also write the reports as JSON")
    parser.add_argument("--tolerances", action="store_true", help="print the tolerance table (Markdown) and exit")
    args = parser.parse_args(argv)
    if args.tolerances:
        print(tolerance_table())
        return 0
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be a positive number")
    if args.emulate_rounding is not None and not (args.emulate_rounding > 0 and args.device == "cpu"):
        parser.error("--emulate-rounding takes a positive relative size, with --device cpu")
    try:
        dev = torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device {args.device!r} is not a device; use cuda, cuda:N or cpu")
    if dev.type not in ("cuda", "cpu"):
        parser.error(f"--device must be cuda, cuda:N or cpu, got {args.device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        print(no_cuda_message())
        return 0
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        parser.error(f"--device {dev}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    from ..runtime import limit_threads
    limit_threads()
    other_threads = (args.threads or max(2, _usable_cores())) if dev.type == "cpu" else None
    print(_header(dev, other_threads, args.quick, args.emulate_rounding), flush=True)

    def progress(r: PathReport) -> None:
        state = "skip" if r.skip else ("ok" if r.ok else "FAIL")
        print(f"  {state:4s} {r.group}: {r.name}", file=sys.stderr, flush=True)

    reports = run_checks(dev, quick=args.quick, groups=args.only or GROUPS, threads=args.threads, progress=progress,
                         emulate_rounding=args.emulate_rounding)
    ref_name, other_name = side_names(dev, args.threads)
    print()
    print(format_table(reports, ref_name, other_name))
    print()
    print("Tolerances (rule: what is compared, limit -- why):")
    for name, t in TOLERANCES.items():
        print(f"  {name}: {t.what}, {t.text()} -- {t.why}")
    bad = [r for r in reports if not r.ok]
    compared = [r for r in reports if r.skip is None]
    total_ref = sum(r.ref_seconds for r in compared if math.isfinite(r.ref_seconds))
    total_other = sum(r.other_seconds for r in compared if math.isfinite(r.other_seconds))
    print()
    print(f"{len(compared)} paths compared ({sum(len(r.measures) for r in compared)} measures), "
          f"{len(reports) - len(compared)} not comparable; {ref_name} {total_ref:.1f} s, {other_name} "
          f"{total_other:.1f} s in all")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": str(dev), "reference": ref_name, "other": other_name, "quick": args.quick,
                       "emulate_rounding": args.emulate_rounding,
                       "torch": torch.__version__, "cuda": torch.version.cuda,
                       "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor(),
                       "tolerances": {k: {"what": t.what, "limit": t.limit} for k, t in TOLERANCES.items()},
                       "paths": [r.as_dict() for r in reports]}, f, indent=1)
    if bad:
        print(f"OUT OF TOLERANCE: {len(bad)} path(s): " + "; ".join(f"{r.group}: {r.name}" for r in bad))
        return 1
    print("all within tolerance")
    return 0
