"""Memory and CPU per student: run each lecture and lab solution headless and measure its kernel.

    nice .venv/bin/python benchmarks/resources.py [NOTEBOOK ...] [--interval 0.05] [--markdown]

Each notebook runs in a fresh kernel (``course_utils.notebooks.execute_notebook``, nothing saved), as a
student's server would run it. While it runs, a thread samples the resident memory (RSS) of the kernel
and every process under it (``psutil``, every ``--interval`` seconds) and keeps the largest sum; each
process's own high-water mark (``VmHWM``, kept by the kernel, so no peak between samples is missed for
a single process) is read too, and the peak reported is the larger of the two. RSS sums count pages
that processes share once per process, so the figure errs high. CPU time is the user + system time of
the kernel and its children (``getrusage(RUSAGE_CHILDREN)`` of this process, which reaps the kernel).

Every lecture must fit a 2 GB Binder session; the script exits 1 and names any that does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 2 * 1000**3        # Binder's 2 GB (decimal, as Binder states it); 1.86 GiB


class TreeSampler:
    """Peak summed RSS of every descendant of this process (the kernel and its children), sampled."""

    def __init__(self, interval: float):
        self.interval = interval
        self.peak_sum = 0
        self.peak_single = 0
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = psutil.Process()
        seen: set[int] = set()
        while not self._stop.is_set():
            total = 0
            for p in me.children(recursive=True):
                try:
                    total += p.memory_info().rss
                    self.peak_single = max(self.peak_single, _vm_hwm(p.pid))
                    seen.add(p.pid)
                except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
                    continue
            self.peak_sum = max(self.peak_sum, total)
            self.processes = len(seen)
            self._stop.wait(self.interval)


def _vm_hwm(pid: int) -> int:
    """The process's peak resident set (``VmHWM`` in /proc/PID/status), in bytes; 0 where not available."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(path: Path, interval: float) -> dict:
    """Run ``path`` once; return its peak memory (bytes), CPU seconds, wall seconds and process count."""
    from course_utils.notebooks import execute_notebook
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with TreeSampler(interval) as sampler:
        execute_notebook(path, save=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"peak": max(sampler.peak_sum, sampler.peak_single), "sampled_sum": sampler.peak_sum,
            "largest_process": sampler.peak_single, "cpu": cpu, "wall": wall, "processes": sampler.processes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="peak memory and CPU time of each lecture and lab solution")
    p.add_argument("notebooks", nargs="*", type=Path)
    p.add_argument("--interval", type=float, default=0.05, help="seconds between memory samples")
    p.add_argument("--markdown", action="store_true", help="print the README table at the end")
    args = p.parse_args(argv)
    os.environ.setdefault("COURSE_HEADLESS", "1")
    notebooks = args.notebooks or sorted([*ROOT.glob("lectures/[0-9]*.ipynb"), *ROOT.glob("solutions/[0-9]*.ipynb")])
    rows = []
    print(f"{'notebook':45s} {'peak MiB':>9s} {'largest':>8s} {'CPU s':>7s} {'wall s':>7s} {'procs':>5s}", flush=True)
    for nb in notebooks:
        r = measure(nb, args.interval)
        name = str(nb.resolve().relative_to(ROOT))
        rows.append((name, r))
        print(f"{name:45s} {r['peak'] / 2**20:9.0f} {r['largest_process'] / 2**20:8.0f} {r['cpu']:7.1f} "
              f"{r['wall']:7.1f} {r['processes']:5d}", flush=True)
    over = [n for n, r in rows if n.startswith("lectures/") and r["peak"] > LIMIT_BYTES]
    if args.markdown:
        print("\n| notebook | peak memory (MiB) | CPU time (s) | wall time (s) |\n|---|---|---|---|")
        for name, r in rows:
            print(f"| `{name}` | {r['peak'] / 2**20:.0f} | {r['cpu']:.0f} | {r['wall']:.0f} |")
    if over:
        print(f"over Binder's 2 GB: {', '.join(over)}", file=sys.stderr)
        return 1
    print(f"every lecture fits in 2 GB (largest {max(r['peak'] for _, r in rows) / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
