"""The grader's side of the sandbox: start, feed, time out, kill and restart the student process.

Isolation depends on what the machine offers (:func:`isolation_mode`); every mode gives student
code an **allow-list** view of the filesystem except ``plain``:

* ``bwrap`` -- bubblewrap (``bwrap``, Debian package ``bubblewrap``) builds a new root holding only
  the operating system's ``/usr`` (``/usr/local`` and ``/usr/src`` hidden), the Python installation
  and the virtualenv, all read-only, the dynamic-loader cache, a fresh ``/proc`` and a minimal
  ``/dev``, and private tmpfs mounts for every writable place (``/tmp`` with the working folder in
  it, ``/var/tmp``, ``/dev/shm``, ``/run``); new PID, network, IPC and UTS namespaces (and a user
  namespace when the grader is not root). As root, the student process then runs under a fresh
  unprivileged uid.
* ``root-ns`` -- the grader runs as root and ``unshare`` works, no usable ``bwrap``: the same
  allow-list root is built by ``sandbox_main.py`` itself (tmpfs root, read-only binds,
  ``pivot_root``, old root detached), in new PID, network and mount namespaces, fresh uid.
* ``user-ns`` -- not root, unprivileged user namespaces enabled, no usable ``bwrap``: as
  ``root-ns`` inside a user namespace, running under the user's own uid (``RLIMIT_NPROC`` is then
  not applied: it would count all of the user's processes).
* ``plain`` -- none of these: a scrubbed environment, a fresh temporary folder and rlimits only.
  There is **no network isolation and no hiding of files** in this mode; every report says so.

Every mode scrubs the environment, kills the sandbox with the grader (parent-death signal; in the
namespace modes the PID namespace dies with its first process), bounds each question, the loading
of the definitions and the whole submission by wall-clock deadlines (``deadline``: the grading
budget), and cleans the text that comes back (:mod:`course_utils.grader.safety`).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import builtins

import numpy as np

from . import cgroup, wire
from .extract import Program
from .limited import set_parent_death_signal
from .safety import clean_text
from .spec import Case

__all__ = ["SandboxLimits", "SandboxError", "QuestionAborted", "BudgetExhausted", "CaseAnswer", "Sandbox",
           "isolation_mode", "describe_isolation", "MODES", "remove_stale_temp", "protect_grader",
           "SANDBOX_OOM_SCORE_ADJ", "GRADER_OOM_SCORE_ADJ", "TEMP_PREFIX", "EXCHANGE_BYTES"]

_MAIN = Path(__file__).with_name("sandbox_main.py")
_WIRE = Path(__file__).with_name("wire.py")
_UNSHARE_NS = ["--pid", "--fork", "--kill-child", "--mount-proc", "--net"]
MODES = ("bwrap", "root-ns", "user-ns", "plain")
_LOAD_BATCH = 200          # definitions per load request ...
_LOAD_BATCH_BYTES = 4 * 1024 * 1024   # ... and source bytes (keeps every message far below the wire limits)


def _batches(indices: list[int], sizes: list[int]) -> Iterable[list[int]]:
    """Cut ``indices`` into load requests of at most _LOAD_BATCH units and _LOAD_BATCH_BYTES of source
    (a unit larger than that goes alone: the extractor already bounds each unit)."""
    batch: list[int] = []
    total = 0
    for i, n in zip(indices, sizes):
        if batch and (len(batch) >= _LOAD_BATCH or total + n > _LOAD_BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(i)
        total += n
    if batch:
        yield batch
MAX_ANSWER_BYTES = 128 * 1024 * 1024   # all the answers to one question, as received (each frame: wire's limit)
EXCHANGE_BYTES = 16 * 1024 * 1024      # memory shared with the sandbox that the grader reads back itself (Case.shared)
SANDBOX_OOM_SCORE_ADJ = 1000           # every sandbox process: first in line for the kernel's OOM killer
GRADER_OOM_SCORE_ADJ = -800            # the grader (when it may lower it: root): last in line
TEMP_PREFIX = "course-grade-"          # temporary folders: course-grade-<grader pid>-<random>
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
_HIDDEN_SYSTEM = ("/usr/local", "/usr/src")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandbox process."""
    memory_bytes: int = 2 * 1024**3      # address space on top of what Python + NumPy/torch map, per process
    total_memory_bytes: int = 3 * 1024**3  # resident memory of all its processes together (watched, see _MemoryWatch)
    cpu_s: int = 300                     # CPU seconds over the whole life of one sandbox process
    fsize_bytes: int = 16 * 1024**2      # largest file it may write
    nofile: int = 128                    # open file descriptors
    nproc: int = 64                      # processes and threads (root modes only)
    start_timeout_s: float = 60.0        # interpreter + imports
    load_timeout_s: float = 30.0         # executing all of the notebook's definitions (one shared deadline)
    tmpfs_bytes: int = 64 * 1024**2      # each private writable tmpfs (/tmp, /var/tmp, /dev/shm, /run)


class SandboxError(RuntimeError):
    """The sandbox could not be started at all: a problem of the grading machine, not the student."""


class QuestionAborted(Exception):
    """The sandbox timed out, died or answered garbage while running a question."""

    def __init__(self, message: str, answers: list["CaseAnswer"]):
        super().__init__(message)
        self.answers = answers


class BudgetExhausted(QuestionAborted):
    """The submission's whole time budget was used up before this question could run."""


@dataclass
class CaseAnswer:
    """What the sandbox sent back for one case: a value (plain data) or an error message."""
    ok: bool
    value: Any = None
    after: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    shared: dict[str, Any] = field(default_factory=dict)   # read back by the grader itself (Case.shared)


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, stdin=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=1)
def isolation_mode() -> str:
    """``bwrap``, ``root-ns``, ``user-ns`` or ``plain`` (module docstring); ``COURSE_SANDBOX_MODE`` overrides."""
    forced = os.environ.get("COURSE_SANDBOX_MODE")
    if forced in MODES:
        return forced
    if not sys.platform.startswith("linux"):
        return "plain"
    if shutil.which("bwrap") and _probe(_bwrap_args() + ["--", sys.executable, "-I", "-c", "0"]):
        return "bwrap"
    unshare = shutil.which("unshare")
    if unshare:
        if os.geteuid() == 0 and _probe([unshare, *_UNSHARE_NS, "true"]):
            return "root-ns"
        if _probe([unshare, "--user", "--map-root-user", *_UNSHARE_NS, "true"]):
            return "user-ns"
    return "plain"


def describe_isolation(mode: str) -> str:
    """One plain sentence for reports and docs."""
    return {
        "bwrap": "sandbox: bubblewrap -- allow-list filesystem (Python and virtualenv read-only, private tmpfs "
                 "for every writable folder), no network, own PID namespace, unprivileged, rlimits",
        "root-ns": "sandbox: namespaces -- allow-list filesystem built by pivot_root (Python and virtualenv "
                   "read-only, private tmpfs for every writable folder), no network, own PID namespace, "
                   "unprivileged uid, rlimits",
        "user-ns": "sandbox: user namespace -- allow-list filesystem built by pivot_root (Python and virtualenv "
                   "read-only, private tmpfs for every writable folder), no network, own PID namespace, rlimits "
                   "(no process-count limit)",
        "plain": "sandbox: WARNING: no namespaces on this machine -- student code has network access and can "
                 "read your files; only rlimits, a scrubbed environment and a fresh folder apply",
    }[mode]


def fresh_uid() -> int:
    """A uid no one else uses, for one sandbox process (only used when the grader runs as root)."""
    return 1_900_000_000 + secrets.randbelow(90_000_000)


def _keep_paths() -> list[str]:
    """The Python installation and the virtualenv: the only host folders student code sees (read-only)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *site.getsitepackages()}
    out = set()
    for p in paths:
        if p and os.path.isdir(p):
            out.add(os.path.abspath(p))
            out.add(os.path.realpath(p))
    return _outermost(out)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _outermost(paths: Iterable[str]) -> list[str]:
    ordered = sorted(set(paths), key=len)
    return [p for i, p in enumerate(ordered) if not any(_inside(p, o) for o in ordered[:i])]


def _bwrap_args(limits: "SandboxLimits | None" = None, files: Sequence[tuple[str, str]] = ()) -> list[str]:
    """The ``bwrap`` command line (without the program) of the allow-list sandbox.

    ``files``: extra ``(host path, sandbox path)`` pairs bound read-only (the sandbox program).
    """
    lim = limits or SandboxLimits()
    # no --new-session: a session of its own would give the sandbox a scheduler autogroup of its own (escaping
    # the grader's nice); the seccomp filter refuses the terminal ioctls (TIOCSTI, TIOCLINUX) that it guards against
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--hostname", "sandbox"]
    # sandbox_main remounts the private tmpfs with an inode limit (CAP_SYS_ADMIN) and, as root, drops to a fresh
    # uid (CAP_SETUID, CAP_SETGID, CAP_CHOWN); it then has no capability left, before any student code runs
    if os.geteuid() == 0:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN",
                 "--cap-add", "CAP_SYS_ADMIN"]
    else:
        args += ["--unshare-user", "--cap-add", "CAP_SYS_ADMIN"]
    mounts: dict[str, str] = {"/": "tmpfs"}   # sandbox path -> "bind" (host folder) or "tmpfs"/"dir"

    def exists(path: str) -> bool:
        """Does ``path`` exist in the sandbox as built so far?"""
        if path in mounts:
            return True
        top = max((m for m in mounts if _inside(path, m)), key=len)
        return mounts[top] == "bind" and os.path.isdir(path)

    def ensure_parents(dest: str) -> None:
        parts = Path(dest).parts
        for i in range(2, len(parts)):
            d = str(Path(*parts[:i]))
            if not exists(d):
                args.extend(["--perms", "0755", "--dir", d])
                mounts[d] = "dir"

    def bind(src: str, dest: str) -> None:
        ensure_parents(dest)
        args.extend(["--ro-bind", src, dest])
        mounts[dest] = "bind"

    bind("/usr", "/usr")
    for d in _HIDDEN_SYSTEM:
        if os.path.isdir(d):
            args.extend(["--perms", "0755", "--tmpfs", d])
            mounts[d] = "tmpfs"
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            args.extend(["--symlink", os.readlink(d), d])
            mounts[d] = "dir"
        elif os.path.isdir(d):
            bind(d, d)
    for f in _ETC_FILES:
        if os.path.exists(f):
            bind(os.path.realpath(f), f)
    args += ["--proc", "/proc", "--dev", "/dev"]
    mounts["/proc"] = mounts["/dev"] = "tmpfs"
    # The writable places come before the Python binds: bwrap mounts in order, so a virtualenv that lives under
    # /tmp (a course checked out there) is bound on top of the private /tmp instead of being hidden by it.
    for d, mode in (("/tmp", "1777"), ("/var/tmp", "1777"), ("/dev/shm", "1777"), ("/run", "0755")):
        ensure_parents(d)
        args += ["--perms", mode, "--size", str(lim.tmpfs_bytes), "--tmpfs", d]
        mounts[d] = "tmpfs"
    for k in _keep_paths():
        top = max((m for m in mounts if _inside(k, m)), key=len)
        if mounts[top] != "bind":          # not already visible through a bound folder
            bind(os.path.realpath(k), k)
    for src, dest in files:
        bind(src, dest)
    args += ["--remount-ro", "/", "--chdir", "/tmp"]
    return args


def _env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}


def _child_setup(procs_fds: Sequence[int] = ()) -> None:
    """In the forked child before exec, while it still has the grader's rights: die with the grader, join the
    sandbox's cgroup (``procs_fds``: its open ``cgroup.procs`` files), and become first in line for the OOM
    killer (children inherit it; an unprivileged, non-dumpable process could not set it later)."""
    set_parent_death_signal(signal.SIGKILL)
    for fd in procs_fds:
        os.write(fd, b"0")
    if os.path.exists("/proc/self/oom_score_adj"):
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, str(SANDBOX_OOM_SCORE_ADJ).encode())
        finally:
            os.close(fd)


_protection: str | None = None


def protect_grader() -> str:
    """Make this grading process last in line for the kernel's OOM killer (``oom_score_adj``
    :data:`GRADER_OOM_SCORE_ADJ`, read back); returns a sentence saying what holds. Lowering it needs
    ``CAP_SYS_RESOURCE``; without it the grader keeps its value and the sentence (in every report) says so.
    The sandbox's own value is raised in any case and verified (:func:`_child_setup`)."""
    global _protection
    if _protection is None:
        path = "/proc/self/oom_score_adj"
        if not os.path.exists(path):
            _protection = "the grader's OOM priority is not adjustable here"
        else:
            try:
                with open(path, "w") as f:
                    f.write(str(GRADER_OOM_SCORE_ADJ))
            except PermissionError:         # lowering needs CAP_SYS_RESOURCE: say so in every report
                pass
            with open(path) as f:
                got = int(f.read().strip())
            if got == GRADER_OOM_SCORE_ADJ:
                _protection = f"OOM priority: grader {GRADER_OOM_SCORE_ADJ}, sandbox processes {SANDBOX_OOM_SCORE_ADJ}"
            else:
                _protection = (f"OOM priority: sandbox processes {SANDBOX_OOM_SCORE_ADJ}; the grader keeps {got} "
                               "(lowering it needs CAP_SYS_RESOURCE, which this grader lacks)")
    return _protection


def remove_stale_temp(root: str | None = None) -> int:
    """Remove the temporary folders (``course-grade-<pid>-*``) of graders that were killed: only folders of
    this user whose owner process is gone. Returns how many were removed."""
    root = root or tempfile.gettempdir()
    removed = 0
    try:
        entries = list(os.scandir(root))
    except OSError:
        return 0
    for e in entries:
        if not e.name.startswith(TEMP_PREFIX):
            continue
        pid, dash, _ = e.name[len(TEMP_PREFIX):].partition("-")     # course-grade-<pid>-<random> only
        if not dash:
            continue
        try:
            st = os.lstat(e.path)
        except OSError:
            continue
        if not pid.isdigit() or not __import__("stat").S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() \
                or os.path.exists(f"/proc/{int(pid)}"):
            continue
        shutil.rmtree(e.path, ignore_errors=True)
        removed += not os.path.lexists(e.path)
    return removed


_BUILTIN_ERRORS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)} | \
    {"LinAlgError", "AxisError"}


def _layout(cases: Sequence[Case]) -> list[list[tuple[str, str | None, int, tuple[int, ...], Any]]]:
    """Where each case's ``shared`` arrays go in the exchange memory: per case, ``(name, key, offset, shape,
    dtype)`` (``key`` for a dict of arrays); ``ValueError`` when they do not fit."""
    out, offset = [], 0
    for c in cases:
        slots = []
        for name in c.shared:
            v = c.kwargs[name]
            items = [(None, v)] if isinstance(v, np.ndarray) else sorted(v.items())
            for key, a in items:
                a = np.asarray(a)
                slots.append((name, key, offset, a.shape, a.dtype))
                offset += -(-a.nbytes // 64) * 64
        out.append(slots)
    if offset > EXCHANGE_BYTES:
        raise ValueError(f"the shared arrays of one question need {offset} bytes, more than {EXCHANGE_BYTES}")
    return out


def _status(pid: str) -> tuple[int, int]:
    """(real uid, resident bytes) of a process, from ``/proc/PID/status`` (readable even when the process
    made itself non-dumpable, which hands its other ``/proc`` files to root); (-1, 0) when it is gone."""
    uid, rss = -1, 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    uid = int(line.split()[1])
                elif line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        return -1, 0
    return uid, rss


class _MemoryWatch(threading.Thread):
    """Kill a sandbox whose processes together hold more than ``limit`` bytes of resident memory.

    ``RLIMIT_AS`` bounds each process, but a submission may fork (up to ``nproc`` processes), so the
    grader sums the resident memory of the sandbox's processes five times a second -- those of its
    fresh uid in the root modes, else the descendants of the sandbox process -- and kills the whole
    sandbox (its PID namespace) when the sum passes the limit; the question then fails with a message.
    Memory that is no process's resident memory cannot be made: the sandbox's seccomp filter refuses
    ``memfd_create`` and ``shmget``, and its tmpfs mounts are small.
    """

    def __init__(self, uid: int | None, root_pid: int, kill_pid: int, limit: int, period_s: float = 0.2,
                 group: "cgroup.SandboxCgroup | None" = None) -> None:
        super().__init__(daemon=True, name="sandbox-memory-watch")
        self.uid, self.root_pid, self.kill_pid, self.limit, self.period_s = uid, root_pid, kill_pid, limit, period_s
        self.group = group      # with a cgroup the kernel enforces the limit: any OOM kill in it stops the sandbox
        self.exceeded = False
        self._halt = threading.Event()

    def _resident(self) -> int:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
        if self.uid is not None:
            return sum(rss for uid, rss in map(_status, entries) if uid == self.uid)
        return sum(_status(pid)[1] for pid in self._tree(entries))

    def _tree(self, entries: list[str]) -> list[str]:
        parent: dict[str, str] = {}
        for e in entries:
            try:
                with open(f"/proc/{e}/stat") as f:
                    parent[e] = f.read().rsplit(")", 1)[1].split()[1]
            except (OSError, IndexError):
                pass
        tree, frontier = {str(self.root_pid)}, [str(self.root_pid)]
        while frontier:
            node = frontier.pop()
            for child in [c for c, p in parent.items() if p == node and c not in tree]:
                tree.add(child)
                frontier.append(child)
        return sorted(tree)

    def run(self) -> None:
        while not self._halt.wait(self.period_s):
            try:
                over = self.group.oom_kills() > 0 if self.group is not None else self._resident() > self.limit
            except OSError:
                continue
            if over:
                self.exceeded = True
                for kill, pid in ((os.kill, self.kill_pid), (os.killpg, self.root_pid)):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                if self.group is not None:
                    self.group.kill()
                return

    def stop(self) -> None:
        self._halt.set()


class Sandbox:
    """One student program in a sandbox process, restarted as needed.

    >>> with Sandbox(program, deadline=time.monotonic() + 180) as sb:   # doctest: +SKIP
    ...     answers = sb.run_cases(cases, timeout_s=10)

    ``deadline`` (a ``time.monotonic()`` value) is the submission's whole budget: no start, load
    or question runs past it. ``private_paths`` are folders hidden in ``plain``-free modes; they
    are kept for compatibility (every namespace mode hides everything not on the allow-list).
    """

    def __init__(self, program: Program, *, limits: SandboxLimits | None = None,
                 private_paths: Iterable[str | os.PathLike[str]] = (), uses_torch: bool | None = None,
                 deadline: float | None = None):
        self.program = program
        self.limits = limits or SandboxLimits()
        self.private_paths = [str(Path(p).resolve()) for p in private_paths]
        self.mode = isolation_mode()
        self.uses_torch = uses_torch if uses_torch is not None else \
            any("torch" in u.source for u in program.units)
        self.deadline = deadline if deadline is not None else float("inf")
        self.skip: set[int] = set()
        self.load_errors: list[str] = []   # messages about definitions that failed, for the report
        self.load_error_units: list[int | None] = []   # per message: the unit that raised, None for the others
        self.notes: list[str] = []
        self.restarts = 0
        self.started = False                # the sandbox has started once in this grading
        self.received_bytes = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._inner_pid: int | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._watch: _MemoryWatch | None = None
        self._fd_req = self._fd_ans = self._fd_exchange = -1
        self._cgroup: cgroup.SandboxCgroup | None = None
        self.cgroup_support = cgroup.support()
        self.protection = protect_grader()
        self._locations = self._valid_locations(program)

    # -- time -------------------------------------------------------------------------------
    def remaining(self) -> float:
        """Seconds left of the submission's budget."""
        return self.deadline - time.monotonic()

    def _until(self, seconds: float) -> float:
        return min(time.monotonic() + seconds, self.deadline)

    def _budget_message(self) -> str:
        return ("the time limit for the whole submission was used up before this question could run "
                "(slow or hanging definitions or questions before it)")

    # -- process management ------------------------------------------------------------------
    def _command(self) -> list[str]:
        if self.mode == "bwrap":
            files = [(str(_MAIN), "/sandbox/sandbox_main.py"), (str(_WIRE), "/sandbox/wire.py")]
            return [shutil.which("bwrap") or "bwrap", *_bwrap_args(self.limits, files)[1:], "--",
                    sys.executable, "-I", "-B", "/sandbox/sandbox_main.py"]
        py = [sys.executable, "-I", "-B", str(_MAIN)]
        if self.mode == "root-ns":
            return [shutil.which("unshare") or "unshare", *_UNSHARE_NS, "--", *py]
        if self.mode == "user-ns":
            return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", *_UNSHARE_NS, "--", *py]
        return py

    def describe_limits(self) -> str:
        """Which limits the kernel enforces on this sandbox (its cgroup, or why none) and the OOM priorities."""
        return (f"{self.cgroup_support.describe(self.limits.total_memory_bytes, self.limits.nproc)}; "
                f"{self.protection}")

    def _start(self) -> None:
        if self.remaining() <= 0:
            raise BudgetExhausted(self._budget_message(), [])
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-")
        procs_fds: list[int] = []
        if self.cgroup_support.version:
            try:
                self._cgroup = cgroup.SandboxCgroup.create(self.cgroup_support, memory_bytes=self.limits.total_memory_bytes,
                                                           pids=self.limits.nproc)
                procs_fds = [os.open(f, os.O_WRONLY | os.O_CLOEXEC) for f in self._cgroup.procs_files()]
            except OSError as exc:
                for fd in procs_fds:
                    os.close(fd)
                self.close()
                raise SandboxError(f"could not create the sandbox's cgroup ({exc})") from None
        exchange = os.path.join(self._tmp.name, "exchange")
        self._fd_exchange = os.open(exchange, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.ftruncate(self._fd_exchange, EXCHANGE_BYTES)
        os.unlink(exchange)
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        ex_fd = os.dup(self._fd_exchange)      # the sandbox's own descriptor (inheritable through pass_fds)
        log = open(os.path.join(self._tmp.name, "sandbox.log"), "wb")
        try:
            self._proc = subprocess.Popen(self._command() + [str(req_r), str(ans_w), str(ex_fd)],
                                          pass_fds=(req_r, ans_w, ex_fd), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, env=_env(), cwd=self._tmp.name, process_group=0,
                                          preexec_fn=functools.partial(_child_setup, procs_fds))
        except (OSError, subprocess.SubprocessError) as exc:
            for fd in (req_w, ans_r):
                os.close(fd)
            self.close()
            raise SandboxError(f"could not start the sandbox: {exc}") from None
        finally:
            for fd in (req_r, ans_w, ex_fd, *procs_fds):
                os.close(fd)
            log.close()
        self._fd_req, self._fd_ans = req_w, ans_r
        os.set_blocking(req_w, False)      # every write has a deadline: a sandbox that stops reading can't stall us
        self._inner_pid = None
        package = Path(__file__).resolve().parents[1]
        config = {"mode": self.mode, "torch": self.uses_torch, "uid": fresh_uid(),
                  "wire_path": "/sandbox/wire.py" if self.mode == "bwrap" else str(_WIRE),
                  "keep": _keep_paths(), "etc": [f for f in _ETC_FILES if os.path.exists(f)],
                  "hidden_system": list(_HIDDEN_SYSTEM),
                  "mask": [*self.private_paths, str(package.parent), os.path.expanduser("~")],
                  "workdir": os.path.join(self._tmp.name, "work"), "exchange_bytes": EXCHANGE_BYTES,
                  "limits": {"memory_bytes": self.limits.memory_bytes, "cpu_s": self.limits.cpu_s,
                             "fsize_bytes": self.limits.fsize_bytes, "nofile": self.limits.nofile,
                             "nproc": self.limits.nproc, "tmpfs_bytes": self.limits.tmpfs_bytes}}
        try:
            body = json.dumps(config).encode()
            start_deadline = self._until(self.limits.start_timeout_s)
            wire.write_frame(self._fd_req, body, deadline=start_deadline)
            ready = self._receive(start_deadline)
        except TimeoutError:
            if self.remaining() <= 0:
                self.close()
                raise BudgetExhausted(self._budget_message(), []) from None
            if self.started:     # it started before in this grading: a slow restart is this submission's
                self.close()     # question (e.g. the machine loaded by its own leftovers), not a machine failure
                raise QuestionAborted("the sandbox took too long to restart", []) from None
            self._start_failed("TimeoutError", "no answer in time")
        except (EOFError, OSError, wire.WireError) as exc:
            self._start_failed(type(exc).__name__, str(exc))
        self.started = True
        self.notes = [clean_text(n, 300, numbers=False) for n in ready.get("notes", []) if type(n) is str][:10]
        adj = ready.get("oom_score_adj")
        if os.path.exists("/proc/self/oom_score_adj") and adj != SANDBOX_OOM_SCORE_ADJ:
            # read back before any student code ran (the grader set it before exec): never graded unprotected
            self._start_failed("oom_score_adj", f"the sandbox reads back {clean_text(adj, 20)}, "
                                                f"not {SANDBOX_OOM_SCORE_ADJ}")
        self._inner_pid = self._child_of(self._proc.pid) if self.mode != "plain" else self._proc.pid
        # no cgroup: the grader watches the sandbox's resident memory itself; with one, the kernel enforces the limit
        # and the watch stops the whole sandbox at its first OOM kill (a v1 cgroup kills one process at a time)
        fresh_uid_used = self.mode in ("bwrap", "root-ns") and os.geteuid() == 0
        self._watch = _MemoryWatch(config["uid"] if fresh_uid_used else None, self._proc.pid,
                                   self._inner_pid or self._proc.pid, self.limits.total_memory_bytes, group=self._cgroup)
        self._watch.start()

    def _start_failed(self, kind: str, text: str) -> None:
        log_text = clean_text(self._log_tail(), 2000, numbers=False)
        self.close()
        raise SandboxError(f"the sandbox did not start ({kind}: {text}); its log says: {log_text or '(nothing)'}")

    @staticmethod
    def _child_of(pid: int) -> int | None:
        """The host pid of the sandbox's PID-namespace init (the child of ``unshare`` / ``bwrap``)."""
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                fields = stat.rsplit(")", 1)[-1].split()
                if len(fields) > 1 and fields[1] == str(pid):
                    return int(entry)
        return None

    @staticmethod
    def _wait_gone(pid: int, timeout_s: float = 10.0) -> None:
        """Wait until ``pid`` has exited; for a namespace init that means every process in it is gone."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                return
            if state in ("Z", "X"):
                return
            time.sleep(0.01)

    def _log_tail(self) -> str:
        try:
            return Path(self._tmp.name, "sandbox.log").read_bytes()[-2000:].decode("utf-8", "replace").strip()
        except (OSError, AttributeError):
            return ""

    def _receive(self, deadline: float) -> dict[str, Any]:
        frame = wire.read_frame(self._fd_ans, deadline=deadline)
        self.received_bytes += len(frame)
        msg = wire.decode(frame)
        if type(msg) is not dict or type(msg.get("event")) is not str:
            raise wire.WireError("the sandbox sent something that is not an event")
        return msg

    def _send(self, msg: dict[str, Any], deadline: float) -> None:
        wire.write_frame(self._fd_req, wire.encode(msg), deadline=deadline)

    def _death_reason(self) -> str:
        proc = self._proc
        if proc is None:
            return "the sandbox is not running"
        if self._cgroup is not None and self._cgroup.oom_kills() > 0:
            return (f"the sandbox was stopped by the kernel: together its processes, files and kernel memory needed "
                    f"more than its {round(self.limits.total_memory_bytes / 2**20)} MiB memory limit "
                    "(forked processes and files in /tmp share one limit)")
        if self._watch is not None and self._watch.exceeded:
            return (f"the sandbox was stopped: its processes together used more than "
                    f"{round(self.limits.total_memory_bytes / 2**20)} MiB of memory (forked processes share one limit)")
        try:
            code = proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the sandbox stopped answering"
        if code < 0 or code >= 128:
            sig = -code if code < 0 else code - 128
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (killed: memory, CPU or process limit)",
                    "SIGSEGV": " (segmentation fault)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            return f"the sandbox process was killed by {name}{hint}"
        return f"the sandbox process exited with status {code} (sys.exit/os._exit or a crash)"

    def close(self) -> None:
        """Kill the sandbox process (its whole PID namespace / process group) and clean up."""
        for fd in (self._fd_req, self._fd_ans, self._fd_exchange):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd_req = self._fd_ans = self._fd_exchange = -1
        if self._watch is not None:
            self._watch.stop()
        if self._proc is not None:
            inner = self._inner_pid
            if inner is None and self.mode != "plain":
                inner = self._child_of(self._proc.pid)
            for kill, pid in ((os.kill, inner), (os.killpg, self._proc.pid), (os.kill, self._proc.pid)):
                try:
                    if pid is not None:
                        kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            if inner is not None and inner != self._proc.pid:
                self._wait_gone(inner)
            self._proc = None
            self._inner_pid = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp.name, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol ---------------------------------------------------------------------------
    def _where(self, index: int) -> str:
        u = self.program.units[index]
        names = ", ".join(u.names) or u.kind
        first = u.source.strip().splitlines()[0] if u.source.strip() else ""
        first = first if len(first) <= 50 else first[:47] + "..."
        return clean_text(f"the statement '{first}' ({names}; code cell {u.cell + 1} counting code cells only, "
                          f"line {u.line})", 200, numbers=False)

    def _ensure_loaded(self) -> None:
        """Start the process and execute the program's definitions, in batches, under one deadline.

        A definition that hangs, kills the process or sends garbage is skipped and the process
        restarted; when the loading deadline passes, the definition running then and every one
        not reached yet are skipped (and reported) -- the next start loads only the rest.
        """
        while self._proc is None:
            self._start()
            deadline = self._until(self.limits.load_timeout_s)
            todo = [i for i in range(len(self.program.units)) if i not in self.skip]
            current: int | None = None      # the statement running now (None between batches)
            last: int | None = None         # the last one announced (kept when a forged "loaded" resets current)
            try:
                units = self.program.to_plain()
                for batch in _batches(todo, [len(units[i]["source"]) for i in todo]):
                    self._send({"op": "load", "units": [dict(units[i], index=i) for i in batch]}, deadline)
                    expected = set(batch)
                    while True:
                        msg = self._receive(deadline)
                        if msg["event"] == "unit" and msg.get("index") in expected:
                            current = last = msg["index"]
                        elif msg["event"] == "loaded" and type(msg.get("errors")) is list:
                            for err in msg["errors"][:_LOAD_BATCH]:
                                if type(err) is dict and err.get("index") in expected:
                                    self.load_error_units.append(err["index"])
                                    self.load_errors.append(f"{self._where(err['index'])}: "
                                                            f"{clean_text(err.get('error'), 300)}")
                            current = None
                            break
                        else:
                            raise wire.WireError(f"unexpected event {clean_text(msg['event'], 40)!r} while loading")
            except (TimeoutError, EOFError, OSError, wire.WireError, KeyError, IndexError, TypeError) as exc:
                timed_out = isinstance(exc, TimeoutError)
                reason = ("took longer than the time limit for loading the notebook's definitions" if timed_out
                          else self._death_reason() if isinstance(exc, (EOFError, OSError))
                          else f"answered garbage ({clean_text(exc, 200)})")
                self.close()
                if current is None:
                    if timed_out and self.remaining() <= 0:
                        raise BudgetExhausted(self._budget_message(), []) from None
                    # between statements (or after a forged "loaded"): pin it on the last statement that
                    # started, else on the first not yet skipped -- each restart skips one more, so the
                    # submission's budget bounds the whole loop, and no student can make this a machine failure
                    current = last if last is not None and last not in self.skip else \
                        next((i for i in todo if i not in self.skip), None)
                    if current is None:
                        raise QuestionAborted(f"loading the notebook's definitions failed: {reason}", []) from None
                self.skip.add(current)
                self.restarts += 1
                self.load_errors.append(f"{self._where(current)}: running this definition {reason}; it was skipped")
                self.load_error_units.append(None)
                if timed_out:
                    rest = [i for i in todo if i > current and i not in self.skip]
                    if rest:
                        self.skip.update(rest)
                        self.load_errors.append(
                            f"{len(rest)} definition(s) after it, from {self._where(rest[0])}, were not run: the "
                            f"notebook's definitions may take {self.limits.load_timeout_s:g} s in total")
                        self.load_error_units.append(None)
                if self.remaining() <= 0:
                    raise BudgetExhausted(self._budget_message(), []) from None

    def _read_shared(self, slots: list[tuple[str, str | None, int, tuple[int, ...], Any]]) -> dict[str, Any]:
        """What the exchange memory holds now for one case's shared arrays (read by the grader, so no code in
        the sandbox can rewrite the evidence); a name whose memory cannot be read is left out."""
        out: dict[str, Any] = {}
        bad: set[str] = set()
        for name, key, offset, shape, dtype in slots:
            n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            try:
                raw = os.pread(self._fd_exchange, n, offset) if n else b""
            except OSError:
                raw = b""
            if len(raw) != n:                  # the sandbox truncated the file: no evidence
                bad.add(name)
                continue
            a = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
            if key is None:
                out[name] = a
            else:
                out.setdefault(name, {})[key] = a
        return {k: v for k, v in out.items() if k not in bad}

    @staticmethod
    def _valid_locations(program: Program) -> dict[int, tuple[set[int], set[str]]]:
        """Per code cell (1-based): the lines the kept statements cover and the names they define."""
        out: dict[int, tuple[set[int], set[str]]] = {}
        for u in program.units:
            lines, names = out.setdefault(u.cell + 1, (set(), set()))
            lines.update(range(u.line, u.line + u.source.count("\n") + 1))
            names.update(u.names)
        return out

    def _error_text(self, err: Any, case: Case) -> str:
        """A failed case, in the grader's words: the kind of failure, a built-in exception's class name, and
        the place in the notebook if it is a real one -- never text from the sandbox, which could spell out
        a hidden input in any form (words, letters, a class name of its making)."""
        if type(err) is not dict:
            return "raised an exception"
        kind = err.get("kind")
        if kind == "not_implemented":
            return "not implemented"
        if kind == "not_defined":
            return f"{case.func} is not defined (or not a function) in your notebook"
        if kind == "not_plain_data":
            return ("returned a value that is not plain data (use numbers, NumPy arrays, strings, and lists, "
                    "tuples or dicts of them)")
        name = err.get("type")
        text = f"raised {name}" if type(name) is str and name in _BUILTIN_ERRORS else \
            "raised an exception of a class defined in your code"
        cell, line, func = err.get("cell"), err.get("line"), err.get("func")
        try:
            cell_no = int(cell) if type(cell) is str and cell.isdigit() and len(cell) < 6 else None
        except ValueError:
            cell_no = None
        where = self._locations.get(cell_no) if cell_no is not None else None
        if where is not None and type(line) is int and line in where[0]:
            text += f" at code cell {cell_no}, line {line}"
            if type(func) is str and func in where[1]:
                text += f", in {func}"
        return text

    def run_cases(self, cases: Sequence[Case], timeout_s: float) -> list[CaseAnswer]:
        """Run one question's cases; the inputs leave the grader only now.

        Raises :class:`QuestionAborted` (with the answers received so far) on timeout, death or
        garbage; the process is then killed and the next call starts a fresh one. Raises
        :class:`BudgetExhausted` when the submission's budget is used up before the question runs.
        """
        self._ensure_loaded()
        answers: list[CaseAnswer] = []
        if self.remaining() <= 0.05:
            raise BudgetExhausted(self._budget_message(), answers)
        budget_bound = self.remaining() < timeout_s
        deadline = self._until(timeout_s)
        self.received_bytes = 0
        layout = _layout(cases)
        try:
            self._send({"op": "call", "cases": [
                {"func": c.func, "kwargs": c.kwargs, "seed": c.seed, "returns_kwargs": list(c.returns_kwargs),
                 "provide": [[name, source] for name, source in c.provide],
                 "shared": [[name, key, offset] for name, key, offset, _, _ in slots]}
                for c, slots in zip(cases, layout)]}, deadline)
            while True:
                msg = self._receive(deadline)
                if msg["event"] == "done":
                    break
                if msg["event"] != "result" or msg.get("index") != len(answers) or type(msg.get("ok")) is not bool:
                    raise wire.WireError("answers arrived out of order")
                if self.received_bytes > MAX_ANSWER_BYTES:     # the grader keeps every answer until it judges
                    raise wire.WireError(f"the answers to this question add up to more than "
                                         f"{MAX_ANSWER_BYTES >> 20} MB")
                case = cases[len(answers)]
                if msg["ok"]:
                    after = msg.get("after", {})
                    answers.append(CaseAnswer(True, value=msg.get("value"), after=after if type(after) is dict else {},
                                              shared=self._read_shared(layout[len(answers)])))
                else:
                    answers.append(CaseAnswer(False, error=self._error_text(msg.get("error"), case)))
            if len(answers) != len(cases):
                raise wire.WireError(f"{len(answers)} answers for {len(cases)} cases")
            return answers
        except TimeoutError:
            self.close()
            self.restarts += 1
            what = (f"the time limit for the whole submission was reached" if budget_bound
                    else f"time limit of {timeout_s:g} s exceeded (infinite loop? too slow?)")
            raise QuestionAborted(f"{what} after {len(answers)} of {len(cases)} tests", answers) from None
        except (EOFError, OSError) as exc:
            reason = self._death_reason() if isinstance(exc, EOFError) else f"lost contact with the sandbox ({exc})"
            self.close()
            self.restarts += 1
            raise QuestionAborted(f"{reason} during test {len(answers) + 1} of {len(cases)}", answers) from None
        except (wire.WireError, KeyError, TypeError) as exc:
            self.close()
            self.restarts += 1
            raise QuestionAborted(f"the sandbox sent an answer that is not plain data ({clean_text(exc, 200)})",
                                  answers) from None
