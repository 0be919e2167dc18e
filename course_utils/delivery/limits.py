"""Run a command under a memory limit and a CPU quota with the kernel's cgroups, and measure it.

Gradescope's default autograder machine has 0.5 vCPU and 768 MB; :func:`run_measured` reproduces that
for one command (and every process it starts): a fresh cgroup with ``memory.max`` / ``cpu.max``
(cgroup v2) or ``memory.limit_in_bytes`` / ``cpu.cfs_quota_us`` (cgroup v1, where v2 has no memory and
cpu controllers), the command moved into it before it executes, and afterwards the cgroup's peak memory
(``memory.peak`` or ``memory.max_usage_in_bytes``) and whether the kernel's OOM killer acted. Needs root
(or a delegated cgroup); :func:`cgroup_mode` says whether it can work here.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measured", "cgroup_mode", "run_measured"]

_ROOT = Path("/sys/fs/cgroup")
_PERIOD_US = 100_000


@dataclass
class Measured:
    """What :func:`run_measured` saw: exit status, wall time (s), peak memory (bytes), OOM kills, mechanism."""
    returncode: int
    seconds: float
    peak_bytes: int
    oom_kills: int
    mechanism: str
    stdout: str = ""


def _own(controller: str) -> str | None:
    """This process's cgroup path in the v1 hierarchy of ``controller`` ("" for v2's)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if controller == "" and ctrls == "" or controller in ctrls.split(","):
            return path
    return None


def _v2_parent() -> Path | None:
    if not (_ROOT / "cgroup.controllers").exists():
        return None
    own = _own("")
    parent = _ROOT / (own or "/").lstrip("/")
    try:
        if not {"memory", "cpu"} <= set((parent / "cgroup.controllers").read_text().split()):
            return None
        if not {"memory", "cpu"} <= set((parent / "cgroup.subtree_control").read_text().split()):
            (parent / "cgroup.subtree_control").write_text("+memory +cpu")
    except OSError:
        return None
    return parent


def _v1_dirs() -> tuple[Path, Path] | None:
    mem, cpu = _own("memory"), _own("cpu")
    if mem is None or cpu is None:
        return None
    m, c = _ROOT / "memory" / mem.lstrip("/"), _ROOT / "cpu" / cpu.lstrip("/")
    if not (m / "memory.limit_in_bytes").exists() or not (c / "cpu.cfs_quota_us").exists():
        return None
    return m, c


def cgroup_mode() -> str | None:
    """``"cgroup v2"``, ``"cgroup v1"`` or None (no usable controllers, or not allowed to create groups)."""
    if os.geteuid() != 0 and not os.access(_ROOT, os.W_OK):
        return None
    for mode, make in (("cgroup v2", _v2_parent), ("cgroup v1", _v1_dirs)):
        try:
            found = make()
        except OSError:
            found = None
        if found is None:
            continue
        probe = (found if mode == "cgroup v2" else found[0]) / f"course-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
            probe.rmdir()
            return mode
        except OSError:
            continue
    return None


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _events(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def _remove(path: Path) -> None:
    for _ in range(100):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)           # processes still leaving


def run_measured(cmd: list[str], *, memory_bytes: int, cpu_fraction: float, timeout_s: float,
                 env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> Measured:
    """Run ``cmd`` in a new cgroup of ``memory_bytes`` and ``cpu_fraction`` of one CPU; ``RuntimeError`` when
    cgroups cannot be used here (see :func:`cgroup_mode`). Output (stdout and stderr) is returned, not shown."""
    mode = cgroup_mode()
    if mode is None:
        raise RuntimeError("no usable cgroup (v2 with memory and cpu controllers, or v1) on this machine, or not root")
    name = f"course-limit-{uuid.uuid4().hex[:10]}"
    quota = max(1000, int(cpu_fraction * _PERIOD_US))
    if mode == "cgroup v2":
        group = _v2_parent() / name            # type: ignore[operator]
        group.mkdir()
        (group / "memory.max").write_text(str(memory_bytes))
        try:
            (group / "memory.swap.max").write_text("0")
        except OSError:
            pass
        (group / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        procs = [group / "cgroup.procs"]
        dirs = [group]
    else:
        mem_parent, cpu_parent = _v1_dirs()    # type: ignore[misc]
        mem, cpu = mem_parent / name, cpu_parent / name
        mem.mkdir()
        cpu.mkdir()
        (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
        try:
            (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))   # no swap either
        except OSError:
            pass
        (cpu / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(quota))
        procs = [mem / "cgroup.procs", cpu / "cgroup.procs"]
        dirs = [mem, cpu]

    def enter() -> None:
        for p in procs:
            with open(p, "w") as f:
                f.write(str(os.getpid()))

    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=cwd, preexec_fn=enter, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout_s, stdin=subprocess.DEVNULL)
        code, out = proc.returncode, proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        code, out = 124, (exc.stdout or b"").decode("utf-8", "replace")
    seconds = time.perf_counter() - t0
    if mode == "cgroup v2":
        peak = _read_int(dirs[0] / "memory.peak")
        ooms = _events(dirs[0] / "memory.events", "oom_kill")
    else:
        peak = _read_int(dirs[0] / "memory.max_usage_in_bytes")
        ooms = _events(dirs[0] / "memory.oom_control", "oom_kill")
    for d in dirs:
        _remove(d)
    return Measured(code, seconds, peak, ooms, mode, out)
