"""Run a trusted function on untrusted input in a forked child process, under limits.

Reading a submission -- parsing its JSON, validating it against the nbformat schema, passing its
cells through IPython's input transformer and ``ast`` -- is trusted code, but its cost is set by
the student: a 213 kB cell of ``x?`` lines keeps IPython's transformer busy for minutes, a deeply
nested expression exhausts the parser. :func:`run_limited` does such work in a child forked from
the grader (nothing to import again), with an address-space and a CPU-time limit, a wall-clock
deadline, and a parent-death signal; the result comes back as JSON through a pipe. A child that
runs out of time or memory is killed and reported as :class:`LimitExceeded`; the grader's own
process never runs the work.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["LimitExceeded", "run_limited", "set_parent_death_signal", "MAX_RESULT_BYTES"]

MAX_RESULT_BYTES = 256 * 1024 * 1024
PR_SET_PDEATHSIG = 1


class LimitExceeded(RuntimeError):
    """The limited child ran out of time or memory, or died."""


def set_parent_death_signal(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux; no-op elsewhere)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return 0


def run_limited(fn: Callable[..., Any], *args: Any, timeout_s: float, memory_bytes: int = 2 * 1024**3,
                cpu_s: int | None = None) -> Any:
    """Return ``fn(*args)`` computed in a forked child; ``fn`` must return JSON-able data.

    An exception in ``fn`` comes back as ``RuntimeError`` naming its type (``MemoryError`` as
    :class:`LimitExceeded`): functions that expect errors should return them as values. Raises
    :class:`LimitExceeded` when the child exceeds ``timeout_s`` (wall clock), ``cpu_s`` (CPU) or
    ``memory_bytes`` (address space on top of what the grader already maps), or dies.
    """
    timeout_s = max(0.05, float(timeout_s))
    cpu = int(cpu_s if cpu_s is not None else max(1, timeout_s + 1))
    parent = os.getpid()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # ---- child
        code = 0
        try:
            os.close(r)
            set_parent_death_signal()
            if os.getppid() != parent:
                os._exit(1)
            limit = _vm_size() + int(memory_bytes)
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            try:
                out = {"ok": fn(*args)}
            except BaseException as exc:  # noqa: BLE001 -- report, never propagate out of the child
                out = {"exc": type(exc).__name__, "msg": str(exc)[:2000],
                       "tb": "".join(traceback.format_exception(exc))[-4000:]}
            data = json.dumps(out).encode()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    # ---- parent
    os.close(w)
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise LimitExceeded(f"took longer than {timeout_s:.0f} s")
            chunk = os.read(r, 1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                raise LimitExceeded("produced too much data")
            chunks.append(chunk)
    finally:
        os.close(r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    if not chunks:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            what = {signal.SIGXCPU: "CPU time limit", signal.SIGKILL: "killed", signal.SIGSEGV: "crashed"}
            raise LimitExceeded(f"stopped by {signal.Signals(sig).name} ({what.get(sig, 'signal')})")
        raise LimitExceeded("ran out of memory or stopped without an answer")
    out = json.loads(b"".join(chunks))
    if "exc" in out:
        if out["exc"] in ("MemoryError",):
            raise LimitExceeded("ran out of memory")
        raise RuntimeError(f"{out['exc']}: {out['msg']}\n{out['tb']}")
    return out["ok"]
