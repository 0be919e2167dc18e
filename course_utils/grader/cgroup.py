"""A control group per sandbox: limits the kernel enforces on everything the sandbox holds.

A sandbox's processes are placed in a cgroup of their own before any student code runs (the
grader's child writes itself into it between ``fork`` and ``exec``). The kernel then charges to it
every page the sandbox causes -- process memory, files in its private tmpfs mounts, page tables,
inodes, sockets and other kernel memory -- and applies:

* a memory limit (``memory.max``; v1 ``memory.limit_in_bytes``), with no swap
  (``memory.swap.max`` 0; v1 ``memory.memsw.limit_in_bytes`` equal to the limit where swap is
  accounted, ``memory.swappiness`` 0). Past it the kernel's OOM killer acts *inside* the sandbox
  (v2: the whole group at once, ``memory.oom.group``); the grader reads the kill count
  (``memory.events`` / ``memory.oom_control``) and fails the question with a message;
* a process and thread limit (``pids.max``);
* a CPU weight below the grader's (``cpu.weight``; v1 ``cpu.shares``) where the CPU controller is
  available.

Two kinds of hierarchy are supported, chosen by :func:`support` (``COURSE_SANDBOX_CGROUP=auto|v2|v1|off``):

``v2``
    The unified hierarchy, where the grader's own cgroup is *delegated* to it: the grader may
    create children, move processes into them, and the ``memory`` and ``pids`` controllers are
    available. A delegated cgroup holding only the grader is made usable by moving the grader
    into a leaf of its own (``course-grader``) and enabling the controllers for the children
    (v2 forbids processes in a cgroup that distributes memory to children); one that holds other
    processes is not used (run the grader with ``systemd-run --scope -p Delegate=yes ...``).
``v1``
    The legacy per-controller hierarchies (a "hybrid" machine, e.g. this course's build VM): a
    writable ``memory`` hierarchy is required, ``pids`` and ``cpu`` are used when writable.

Everything else (a container without a delegated cgroup, no write access) runs without: the
sandbox then falls back to the grader's own memory watch (see :mod:`course_utils.grader.sandbox`),
and :func:`support` says why, in the words every report prints.

Every cgroup is named ``course-grade-<grader pid>-<random>`` so that :func:`remove_stale` can
remove those left by a grader that was killed (only when that process is gone).
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CgroupError", "CgroupSupport", "SandboxCgroup", "support", "remove_stale", "PREFIX", "LEAF",
           "CGROUP_ENV"]

PREFIX = "course-grade-"        # one per sandbox: course-grade-<grader pid>-<random hex>
LEAF = "course-grader"          # v2: the leaf the grader moves itself into
CGROUP_ENV = "COURSE_SANDBOX_CGROUP"
_V2_CONTROLLERS = ("memory", "pids")


class CgroupError(OSError):
    """A cgroup could not be created, limited or removed as required."""


@dataclass(frozen=True)
class CgroupSupport:
    """What this machine offers: ``version`` ``"v2"``, ``"v1"`` or ``None`` (no usable cgroup), the
    folder(s) new cgroups go into (controller -> path; v2 uses the key ``"unified"``), and why."""
    version: str | None
    parents: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def describe(self, memory_bytes: int, pids: int) -> str:
        """One sentence for reports: which limits the kernel enforces, or why none."""
        mib = round(memory_bytes / 2**20)
        if self.version == "v2":
            cpu = ", a lower CPU weight" if "cpu" in self.parents else ""
            return (f"limits: a cgroup v2 per sandbox -- {mib} MiB of memory for everything it holds (tmpfs files "
                    f"and kernel memory included), no swap, {pids} processes{cpu}; the kernel kills inside it")
        if self.version == "v1":
            extra = "".join([f", {pids} processes" if "pids" in self.parents else "",
                             ", a lower CPU share" if "cpu" in self.parents else ""])
            swap = "no swap" if os.path.exists(os.path.join(self.parents["memory"], "memory.memsw.limit_in_bytes")) \
                else "swappiness 0 (swap is not accounted here)"
            return (f"limits: a cgroup (v1 memory controller) per sandbox -- {mib} MiB of memory for everything it "
                    f"holds (tmpfs files and kernel memory included), {swap}{extra}; the kernel kills inside it")
        return (f"limits: no cgroup ({self.reason}); the grader watches its processes' resident memory "
                f"({mib} MiB together) and the private tmpfs mounts are small")


def _read(path: str | Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str | Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _mounts() -> list[tuple[str, str, set[str]]]:
    """``(mount point, filesystem type, super options)`` of every cgroup mount, from ``/proc/self/mountinfo``."""
    out = []
    try:
        text = _read("/proc/self/mountinfo")
    except OSError:
        return out
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        out.append((point, rest[0], set(rest[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """Controller (or ``"unified"``) -> this process's cgroup path, from ``/proc/self/cgroup``."""
    out: dict[str, str] = {}
    try:
        text = _read("/proc/self/cgroup")
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        if names == "":
            out["unified"] = path
        for name in names.split(","):
            if name:
                out[name] = path
    return out


def _writable(folder: str) -> bool:
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK) and \
        os.access(os.path.join(folder, "cgroup.procs"), os.W_OK)


def _procs(folder: str) -> list[int]:
    try:
        return [int(p) for p in _read(os.path.join(folder, "cgroup.procs")).split()]
    except (OSError, ValueError):
        return []


def _v2(mount: str, own: str) -> CgroupSupport:
    here = os.path.normpath(mount + own)
    try:
        available = set(_read(os.path.join(here, "cgroup.controllers")).split())
    except OSError as exc:
        return CgroupSupport(None, reason=f"cgroup v2 at {here} cannot be read ({exc.strerror})")
    missing = [c for c in _V2_CONTROLLERS if c not in available]
    if missing:
        return CgroupSupport(None, reason=f"cgroup v2 at {here} offers no {' or '.join(missing)} controller "
                                          "(bound to a v1 hierarchy, or not delegated)")
    if os.path.basename(here) == LEAF:        # a grader process that an earlier call (or its parent) moved already
        parent = os.path.dirname(here)
        if _writable(parent) and set(_V2_CONTROLLERS) <= set(_read(os.path.join(parent, "cgroup.subtree_control")).split()):
            return _v2_ready(parent, available)
    if not _writable(here):
        return CgroupSupport(None, reason=f"the grader's cgroup {here} is not delegated to it (no write access)")
    enabled = set(_read(os.path.join(here, "cgroup.subtree_control")).split())
    if set(_V2_CONTROLLERS) <= enabled:
        return _v2_ready(here, available)
    others = [p for p in _procs(here) if p != os.getpid()]
    if others and own != "/":
        return CgroupSupport(None, reason=f"the grader's cgroup {here} holds other processes, so it cannot hand "
                                          "memory limits to children; run the grader in a cgroup of its own "
                                          "(systemd-run --scope -p Delegate=yes course grade ...)")
    try:
        if own != "/":                        # v2: no processes in a cgroup that distributes memory
            leaf = os.path.join(here, LEAF)
            os.makedirs(leaf, exist_ok=True)
            _write(os.path.join(leaf, "cgroup.procs"), "0")
        want = [c for c in (*_V2_CONTROLLERS, "cpu") if c in available]
        _write(os.path.join(here, "cgroup.subtree_control"), " ".join("+" + c for c in want))
    except OSError as exc:
        return CgroupSupport(None, reason=f"cgroup v2 at {here}: enabling the memory controller failed "
                                          f"({exc.strerror or exc})")
    return _v2_ready(here, available)


def _v2_ready(parent: str, available: set[str]) -> CgroupSupport:
    parents = {"unified": parent}
    enabled = set(_read(os.path.join(parent, "cgroup.subtree_control")).split())
    if "cpu" in enabled:
        parents["cpu"] = parent
    return CgroupSupport("v2", parents, f"cgroup v2 delegated at {parent}")


def _v1(mounts: list[tuple[str, str, set[str]]], own: dict[str, str]) -> CgroupSupport:
    parents: dict[str, str] = {}
    for point, kind, opts in mounts:
        if kind != "cgroup":
            continue
        for ctl, opt in (("memory", "memory"), ("pids", "pids"), ("cpu", "cpu")):
            if opt in opts and ctl in own and ctl not in parents:
                folder = os.path.normpath(point + own[ctl])
                if _writable(folder):
                    parents[ctl] = folder
    if "memory" not in parents:
        return CgroupSupport(None, reason="no writable cgroup memory controller (v1 or v2) for the grader")
    return CgroupSupport("v1", parents, f"cgroup v1 memory controller at {parents['memory']}")


def _probe(sup: CgroupSupport) -> CgroupSupport:
    """Create, limit, read back and remove one cgroup: a machine that claims support must deliver it."""
    if sup.version is None:
        return sup
    try:
        cg = SandboxCgroup.create(sup, memory_bytes=64 * 2**20, pids=8, cpu_weight=50)
        cg.remove()
    except OSError as exc:
        return CgroupSupport(None, reason=f"{sup.reason}, but a test cgroup failed ({exc})")
    return sup


@functools.lru_cache(maxsize=1)
def support() -> CgroupSupport:
    """The cgroup this process can give each sandbox (cached); ``COURSE_SANDBOX_CGROUP`` forces a choice."""
    forced = os.environ.get(CGROUP_ENV, "auto").strip().lower() or "auto"
    if forced == "off":
        return CgroupSupport(None, reason=f"turned off by {CGROUP_ENV}=off")
    if not os.path.isdir("/proc/self") or not hasattr(os, "getuid"):
        return CgroupSupport(None, reason="not Linux")
    mounts, own = _mounts(), _own_paths()
    tried: list[str] = []
    if forced in ("auto", "v2"):
        v2_mounts = [p for p, kind, _ in mounts if kind == "cgroup2"]
        if v2_mounts and "unified" in own:
            sup = _probe(_v2(v2_mounts[0], own["unified"]))
            if sup.version:
                return sup
            tried.append(sup.reason)
        else:
            tried.append("no cgroup v2 mount")
    if forced in ("auto", "v1"):
        sup = _probe(_v1(mounts, own))
        if sup.version:
            return sup
        tried.append(sup.reason)
    return CgroupSupport(None, reason="; ".join(tried) or f"{CGROUP_ENV}={forced} is not one of auto, v2, v1, off")


class SandboxCgroup:
    """One sandbox's cgroup: in one folder (v2) or one per controller (v1)."""

    def __init__(self, version: str, dirs: dict[str, str]):
        self.version = version
        self.dirs = dirs            # controller (or "unified") -> folder

    @classmethod
    def create(cls, sup: CgroupSupport, *, memory_bytes: int, pids: int, cpu_weight: int = 50) -> "SandboxCgroup":
        """A new cgroup under ``sup.parents`` with these limits, each read back; :class:`CgroupError` on failure.

        ``cpu_weight``: 1-10000, the default being 100 (v1: ``cpu.shares`` = weight x 10.24).
        """
        if sup.version is None:
            raise CgroupError(0, f"no cgroup support: {sup.reason}")
        name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        cg = cls(sup.version, {})
        try:
            if sup.version == "v2":
                folder = os.path.join(sup.parents["unified"], name)
                os.mkdir(folder)
                cg.dirs["unified"] = folder
                cg._set(folder, "memory.max", str(memory_bytes))
                cg._set(folder, "memory.swap.max", "0", optional=True)
                cg._set(folder, "memory.oom.group", "1", optional=True)
                cg._set(folder, "pids.max", str(pids))
                if "cpu" in sup.parents:
                    cg._set(folder, "cpu.weight", str(cpu_weight))
            else:
                for ctl, parent in sup.parents.items():
                    folder = os.path.join(parent, name)
                    os.mkdir(folder)
                    cg.dirs[ctl] = folder
                mem = cg.dirs["memory"]
                cg._set(mem, "memory.limit_in_bytes", str(memory_bytes))
                cg._set(mem, "memory.memsw.limit_in_bytes", str(memory_bytes), optional=True)
                cg._set(mem, "memory.swappiness", "0", optional=True)
                if "pids" in cg.dirs:
                    cg._set(cg.dirs["pids"], "pids.max", str(pids))
                if "cpu" in cg.dirs:
                    cg._set(cg.dirs["cpu"], "cpu.shares", str(max(2, round(cpu_weight * 10.24))))
        except OSError as exc:
            cg.remove()
            if isinstance(exc, CgroupError):
                raise
            raise CgroupError(exc.errno or 0, f"creating the sandbox's cgroup failed: {exc}") from None
        return cg

    @staticmethod
    def _set(folder: str, knob: str, value: str, optional: bool = False) -> None:
        path = os.path.join(folder, knob)
        if optional and not os.path.exists(path):
            return
        _write(path, value)
        got = _read(path).strip()
        if got != value and not (value.isdigit() and got.isdigit() and abs(int(got) - int(value)) < 4096):
            raise CgroupError(0, f"{path} reads back {got!r} after writing {value!r}")

    def procs_files(self) -> list[str]:
        """The ``cgroup.procs`` files a process writes ``0`` into to join this cgroup."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def pids(self) -> list[int]:
        """The processes in it now."""
        out: set[int] = set()
        for d in self.dirs.values():
            out.update(_procs(d))
        return sorted(out)

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has killed in it."""
        try:
            if self.version == "v2":
                text = _read(os.path.join(self.dirs["unified"], "memory.events"))
            else:
                text = _read(os.path.join(self.dirs["memory"], "memory.oom_control"))
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def memory_limit(self) -> int:
        """The memory limit in force (bytes)."""
        if self.version == "v2":
            return int(_read(os.path.join(self.dirs["unified"], "memory.max")).strip())
        return int(_read(os.path.join(self.dirs["memory"], "memory.limit_in_bytes")).strip())

    def kill(self) -> None:
        """SIGKILL every process in it (v2 ``cgroup.kill`` where the kernel has it)."""
        if self.version == "v2":
            try:
                _write(os.path.join(self.dirs["unified"], "cgroup.kill"), "1")
                return
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def remove(self, timeout_s: float = 5.0) -> None:
        """Kill what is left and remove the folders (children of a dying process may take a moment)."""
        deadline = time.monotonic() + timeout_s
        for d in list(self.dirs.values()):
            while os.path.isdir(d):
                try:
                    os.rmdir(d)
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    self.kill()
                    time.sleep(0.02)
        self.dirs = {k: d for k, d in self.dirs.items() if os.path.isdir(d)}


def _owner_gone(name: str) -> bool:
    """For ``course-grade-<pid>-<hex>``: is the grader process that made it gone?"""
    parts = name[len(PREFIX):].split("-")
    if len(parts) != 2 or not parts[0].isdigit():
        return False
    return not os.path.exists(f"/proc/{int(parts[0])}")


def remove_stale(sup: CgroupSupport | None = None) -> int:
    """Remove the sandbox cgroups left by graders that were killed (their owner process is gone);
    returns how many. Cgroups of running graders are never touched."""
    sup = sup or support()
    removed = 0
    for parent in set(sup.parents.values()):
        try:
            names = [e.name for e in os.scandir(parent) if e.is_dir() and e.name.startswith(PREFIX)]
        except OSError:
            continue
        for name in names:
            if _owner_gone(name):
                SandboxCgroup(sup.version or "v1", {"x": os.path.join(parent, name)}).remove(timeout_s=2.0)
                removed += not os.path.isdir(os.path.join(parent, name))
    return removed
