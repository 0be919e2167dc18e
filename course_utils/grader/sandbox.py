"""The grader's side of the sandbox: start, feed, time out, kill and restart the student process.

Isolation depends on what the machine offers (:func:`isolation_mode`):

* ``root-ns`` -- the grader runs as root and ``unshare`` works: the student process gets new PID,
  network and mount namespaces (no network at all, only its own processes visible, the grader's
  folders hidden) and runs under a fresh unprivileged uid, with rlimits on CPU time, address space,
  file size, open files and processes.
* ``user-ns`` -- not root, but unprivileged user namespaces are enabled: the same namespaces,
  running under the user's own uid (``RLIMIT_NPROC`` is then not applied: it would count all of the
  user's processes).
* ``plain`` -- neither: a scrubbed environment, a fresh temporary folder and rlimits only. There is
  **no network isolation and no hiding of files** in this mode; every report says so.

Every mode scrubs the environment, uses a fresh working folder, a wall-clock limit per question,
and kills the whole process group (in the namespace modes: the whole PID namespace) on timeout.
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
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import wire
from .extract import Program
from .spec import Case

__all__ = ["SandboxLimits", "SandboxError", "QuestionAborted", "CaseAnswer", "Sandbox", "isolation_mode"]

_MAIN = Path(__file__).with_name("sandbox_main.py")
_WIRE = Path(__file__).with_name("wire.py")
_UNSHARE_NS = ["--pid", "--fork", "--kill-child", "--mount-proc", "--net"]


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one sandbox process."""
    memory_bytes: int = 2 * 1024**3      # address space on top of what Python + NumPy/torch map
    cpu_s: int = 300                     # CPU seconds over the whole life of one sandbox process
    fsize_bytes: int = 16 * 1024**2      # largest file it may write
    nofile: int = 128                    # open file descriptors
    nproc: int = 64                      # processes and threads (root-ns mode only)
    start_timeout_s: float = 60.0        # interpreter + imports
    load_timeout_s: float = 30.0         # executing the notebook's definitions


class SandboxError(RuntimeError):
    """The sandbox could not be started at all: a problem of the grading machine, not the student."""


class QuestionAborted(Exception):
    """The sandbox timed out, died or answered garbage while running a question."""

    def __init__(self, message: str, answers: list["CaseAnswer"]):
        super().__init__(message)
        self.answers = answers


@dataclass
class CaseAnswer:
    """What the sandbox sent back for one case: a value (plain data) or an error message."""
    ok: bool
    value: Any = None
    after: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd + ["true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=1)
def isolation_mode() -> str:
    """``root-ns``, ``user-ns`` or ``plain`` (see the module docstring); ``COURSE_SANDBOX_MODE`` overrides."""
    forced = os.environ.get("COURSE_SANDBOX_MODE")
    if forced in ("root-ns", "user-ns", "plain"):
        return forced
    unshare = shutil.which("unshare")
    if unshare and sys.platform.startswith("linux"):
        if os.geteuid() == 0 and _probe([unshare, *_UNSHARE_NS]):
            return "root-ns"
        if _probe([unshare, "--user", "--map-root-user", *_UNSHARE_NS]):
            return "user-ns"
    return "plain"


def describe_isolation(mode: str) -> str:
    """One plain sentence for reports and docs."""
    return {
        "root-ns": "sandbox: separate PID, network and mount namespaces, no network, unprivileged uid, rlimits",
        "user-ns": "sandbox: user, PID, network and mount namespaces, no network, rlimits (no process-count limit)",
        "plain": "sandbox: WARNING: no namespaces on this machine -- student code has network access and can "
                 "read your files; only rlimits, a scrubbed environment and a fresh folder apply",
    }[mode]


def fresh_uid() -> int:
    """A uid no one else uses, for one sandbox process (only used when the grader runs as root)."""
    return 1_900_000_000 + secrets.randbelow(90_000_000)


def _keep_paths() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *site.getsitepackages()}
    return sorted(p for p in paths if p)


def _env() -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}


class Sandbox:
    """One student program in a sandbox process, restarted as needed.

    >>> with Sandbox(program, private_paths=[submission_dir]) as sb:   # doctest: +SKIP
    ...     answers = sb.run_cases(cases, timeout_s=10)
    """

    def __init__(self, program: Program, *, limits: SandboxLimits | None = None,
                 private_paths: Iterable[str | os.PathLike[str]] = (), uses_torch: bool | None = None):
        self.program = program
        self.limits = limits or SandboxLimits()
        self.private_paths = [str(Path(p).resolve()) for p in private_paths]
        self.mode = isolation_mode()
        self.uses_torch = uses_torch if uses_torch is not None else \
            any("torch" in u.source for u in program.units)
        self.skip: set[int] = set()
        self.load_errors: list[str] = []   # messages about definitions that failed, for the report
        self.notes: list[str] = []
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._inner_pid: int | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._fd_req = self._fd_ans = -1

    # -- process management ------------------------------------------------------------------
    def _command(self) -> list[str]:
        py = [sys.executable, "-I", "-B", str(_MAIN)]
        if self.mode == "root-ns":
            return [shutil.which("unshare") or "unshare", *_UNSHARE_NS, "--", *py]
        if self.mode == "user-ns":
            return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", *_UNSHARE_NS, "--", *py]
        return py

    def _start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="course-grade-")
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        log = open(os.path.join(self._tmp.name, "sandbox.log"), "wb")
        try:
            self._proc = subprocess.Popen(self._command() + [str(req_r), str(ans_w)], pass_fds=(req_r, ans_w),
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=_env(),
                                          cwd=self._tmp.name, start_new_session=True)
        except OSError as exc:
            raise SandboxError(f"could not start the sandbox: {exc}") from None
        finally:
            os.close(req_r)
            os.close(ans_w)
            log.close()
        self._fd_req, self._fd_ans = req_w, ans_r
        package = Path(__file__).resolve().parents[1]          # course_utils/, references included
        masks = [*self.private_paths, str(package), str(package.parent), os.path.expanduser("~"),
                 tempfile.gettempdir()]
        config = {"mode": self.mode, "wire_path": str(_WIRE), "torch": self.uses_torch,
                  "uid": fresh_uid(), "mask": masks, "keep": _keep_paths(),
                  "workdir": os.path.join(self._tmp.name, "work"),
                  "limits": {"memory_bytes": self.limits.memory_bytes, "cpu_s": self.limits.cpu_s,
                             "fsize_bytes": self.limits.fsize_bytes, "nofile": self.limits.nofile,
                             "nproc": self.limits.nproc}}
        try:
            body = json.dumps(config).encode()
            os.write(self._fd_req, len(body).to_bytes(8, "big") + body)
            ready = self._receive(time.monotonic() + self.limits.start_timeout_s)
        except (TimeoutError, EOFError, OSError, wire.WireError) as exc:
            log_text = self._log_tail()
            self.close()
            raise SandboxError(f"the sandbox did not start ({type(exc).__name__}: {exc}); its log says: "
                               f"{log_text or '(nothing)'}") from None
        self.notes = [str(n) for n in ready.get("notes", [])]
        self._inner_pid = self._child_of(self._proc.pid) if self.mode != "plain" else self._proc.pid

    @staticmethod
    def _child_of(pid: int) -> int | None:
        """The host pid of the sandbox's PID-namespace init (the child of ``unshare``)."""
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
        msg = wire.decode(wire.read_frame(self._fd_ans, deadline=deadline))
        if type(msg) is not dict or type(msg.get("event")) is not str:
            raise wire.WireError("the sandbox sent something that is not an event")
        return msg

    def _send(self, msg: dict[str, Any]) -> None:
        wire.write_frame(self._fd_req, wire.encode(msg))

    def _death_reason(self) -> str:
        proc = self._proc
        if proc is None:
            return "the sandbox is not running"
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
        for fd in (self._fd_req, self._fd_ans):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fd_req = self._fd_ans = -1
        if self._proc is not None:
            inner = self._inner_pid
            for kill, pid in ((os.kill, inner), (os.killpg, self._proc.pid)):
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
        if self._tmp is not None:
            shutil.rmtree(self._tmp.name, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- protocol ---------------------------------------------------------------------------
    def _ensure_loaded(self) -> None:
        """Start the process and execute the program's definitions, skipping ones that kill it."""
        while self._proc is None:
            self._start()
            units = self.program.to_plain()
            self._send({"op": "load", "units": units, "skip": sorted(self.skip)})
            deadline = time.monotonic() + self.limits.load_timeout_s
            current = None
            try:
                while True:
                    msg = self._receive(deadline)
                    if msg["event"] == "unit" and type(msg.get("index")) is int:
                        current = msg["index"]
                    elif msg["event"] == "loaded":
                        for err in msg.get("errors", []):
                            u = self.program.units[err["index"]]
                            self.load_errors.append(f"code cell {u.cell + 1} line {u.line} "
                                                    f"({', '.join(u.names) or u.kind}): {str(err['error'])[:300]}")
                        return
                    else:
                        raise wire.WireError(f"unexpected event {msg['event']!r} while loading")
            except (TimeoutError, EOFError, OSError, wire.WireError, KeyError, IndexError, TypeError) as exc:
                reason = ("took longer than the time limit" if isinstance(exc, TimeoutError)
                          else self._death_reason() if isinstance(exc, (EOFError, OSError))
                          else f"answered garbage ({exc})")
                self.close()
                if current is None or current in self.skip:
                    raise SandboxError(f"the sandbox failed while loading the notebook: {reason}") from None
                self.skip.add(current)
                self.restarts += 1
                u = self.program.units[current]
                self.load_errors.append(f"code cell {u.cell + 1} line {u.line} ({', '.join(u.names) or u.kind}): "
                                        f"running this definition {reason}; it was skipped")

    def run_cases(self, cases: Sequence[Case], timeout_s: float) -> list[CaseAnswer]:
        """Run one question's cases; the inputs leave the grader only now.

        Raises :class:`QuestionAborted` (with the answers received so far) on timeout, death or
        garbage; the process is then killed and the next call starts a fresh one.
        """
        self._ensure_loaded()
        answers: list[CaseAnswer] = []
        deadline = time.monotonic() + timeout_s
        try:
            self._send({"op": "call", "cases": [
                {"func": c.func, "kwargs": c.kwargs, "seed": c.seed, "returns_kwargs": list(c.returns_kwargs)}
                for c in cases]})
            while True:
                msg = self._receive(deadline)
                if msg["event"] == "done":
                    break
                if msg["event"] != "result" or msg.get("index") != len(answers) or type(msg.get("ok")) is not bool:
                    raise wire.WireError("answers arrived out of order")
                if msg["ok"]:
                    after = msg.get("after", {})
                    answers.append(CaseAnswer(True, value=msg.get("value"), after=after if type(after) is dict else {}))
                else:
                    answers.append(CaseAnswer(False, error=str(msg.get("error", "failed"))[:400]))
            if len(answers) != len(cases):
                raise wire.WireError(f"{len(answers)} answers for {len(cases)} cases")
            return answers
        except TimeoutError:
            self.close()
            self.restarts += 1
            raise QuestionAborted(f"time limit of {timeout_s:g} s exceeded (infinite loop? too slow?) "
                                  f"after {len(answers)} of {len(cases)} tests", answers) from None
        except (EOFError, OSError) as exc:
            reason = self._death_reason() if isinstance(exc, EOFError) else f"lost contact with the sandbox ({exc})"
            self.close()
            self.restarts += 1
            raise QuestionAborted(f"{reason} during test {len(answers) + 1} of {len(cases)}", answers) from None
        except (wire.WireError, KeyError, TypeError) as exc:
            self.close()
            self.restarts += 1
            raise QuestionAborted(f"the sandbox sent an answer that is not plain data ({exc})", answers) from None
