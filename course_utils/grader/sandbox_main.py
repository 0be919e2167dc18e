"""The program that runs *inside* the grading sandbox (started by :mod:`course_utils.grader.sandbox`).

Run as ``python -I -B sandbox_main.py FD_IN FD_OUT``; it must not import ``course_utils`` (the real
package, reference implementations included, is hidden from student code). Steps:

1. read its configuration (first frame on ``FD_IN``, JSON) and the source of the wire module;
2. isolate itself: in ``root-ns`` / ``user-ns`` mode build an allow-list root (a tmpfs holding
   ``/usr``, the Python installation and virtualenv read-only, ``/proc``, a minimal ``/dev`` and
   private tmpfs for ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/run``) and ``pivot_root`` into it, the
   host's root detached (in ``bwrap`` mode bubblewrap built the same root already); then drop to
   an unprivileged uid (or, in an unprivileged user namespace, lock the mounts by entering a nested
   one), set ``no_new_privs`` and rlimits (CPU, file size, open files, processes, core); redirect
   file descriptors 0-2 to ``/dev/null``;
3. import NumPy (and torch when the program uses it), cap the address space, install an import
   hook that offers only a no-op ``course_utils.grader`` and refuses every other ``course_utils``
   module, and answer requests: ``load`` (execute one batch of the notebook's kept statements,
   reporting progress so a crash can be pinned on a statement) and ``call`` (run one question's
   cases, one answer frame per case). Answers are plain data (JSON + ``.npz``); the grader judges.
"""

import ast
import ctypes
import json
import os
import re
import resource
import signal
import struct
import sys
import time
import traceback
import types

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 4, 38
WORKDIR = "/tmp/work"
WRITABLE = {"/tmp": "1777", "/var/tmp": "1777", "/dev/shm": "1777", "/run": "755"}   # private tmpfs, mode

_libc = ctypes.CDLL(None, use_errno=True)


def _raw_read(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _mount(src, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    if _libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _inside(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}
ST_KEEP = 4 | 8 | 1024 | 2048 | 4096   # nodev, noexec, noatime, nodiratime, relatime (locked in a user ns)


def _ro_bind(src, dest):
    """Bind ``src`` on ``dest`` read-only, keeping the source mount's locked flags."""
    _mount(src, dest, None, MS_BIND | MS_REC)
    keep = os.statvfs(dest).f_flag & ST_KEEP
    _mount(None, dest, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | keep)


def _new_root(cfg, notes):
    """Build an allow-list root and ``pivot_root`` into it; the host's root is detached.

    The new root is an empty tmpfs holding: ``/usr`` (with ``/usr/local`` and ``/usr/src``
    hidden), the ``/bin``, ``/lib`` ... links or folders, the loader cache from ``/etc``, the
    Python installation and virtualenv (``keep``), all read-only; this PID namespace's ``/proc``;
    ``/dev`` with null, zero, full, random, urandom; private tmpfs for ``/tmp``, ``/var/tmp``,
    ``/dev/shm`` and ``/run``. Nothing else of the host exists in it.
    """
    machine = os.uname().machine
    if machine not in _SYS_PIVOT_ROOT:
        raise OSError(0, f"pivot_root: unknown syscall number on {machine}")
    hidden = cfg.get("hidden_system", [])
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keeps = sorted({os.path.realpath(k) for k in cfg["keep"] if os.path.isdir(k)}, key=len)
    links = {d: os.readlink(d) for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32") if os.path.islink(d)}
    libdirs = [d for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
               if d not in links and os.path.isdir(d)]
    held = {}
    for src in ["/usr", *libdirs, *keeps]:   # hold sources open: the new root is mounted over one folder
        if src not in held:
            held[src] = os.open(src, os.O_PATH | os.O_DIRECTORY)
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
    dev_fds = {d: os.open(f"/dev/{d}", os.O_PATH) for d in ("null", "zero", "full", "random", "urandom")
               if os.path.exists(f"/dev/{d}")}
    etc_fds = {f: os.open(f, os.O_PATH) for f in cfg.get("etc", []) if os.path.exists(f)}
    new = "/tmp"   # any folder will do: in this private mount namespace the tmpfs covers it only here
    size = cfg["limits"].get("tmpfs_bytes", 64 * 1024 * 1024)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,nr_inodes=1024,mode=755")

    def at(path):
        return new + path

    def bind_dir(src_fd, dest):
        os.makedirs(at(dest), mode=0o755, exist_ok=True)
        _ro_bind(f"/proc/self/fd/{src_fd}", at(dest))

    def bind_file(src_fd, dest, readonly=True):
        os.makedirs(os.path.dirname(at(dest)), mode=0o755, exist_ok=True)
        if not os.path.exists(at(dest)):
            open(at(dest), "w").close()
        if readonly:
            _ro_bind(f"/proc/self/fd/{src_fd}", at(dest))
        else:
            _mount(f"/proc/self/fd/{src_fd}", at(dest), None, MS_BIND)

    bind_dir(held["/usr"], "/usr")
    for h in hidden:
        if os.path.isdir(at(h)):
            _mount("tmpfs", at(h), "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,nr_inodes=16,mode=755")
    for d, target in links.items():
        os.symlink(target, at(d))
    for d in libdirs:
        bind_dir(held[d], d)
    for f, fd in etc_fds.items():
        if os.path.isdir(f):
            bind_dir(fd, f)
        else:
            bind_file(fd, f)
    os.makedirs(at("/proc"), mode=0o555)
    _mount(f"/proc/self/fd/{proc_fd}", at("/proc"), None, MS_BIND | MS_REC)
    os.makedirs(at("/dev"), mode=0o755)
    _mount("tmpfs", at("/dev"), "tmpfs", MS_NOSUID, "size=64k,nr_inodes=64,mode=755")
    for d, fd in dev_fds.items():
        bind_file(fd, f"/dev/{d}", readonly=False)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, at(f"/dev/{name}"))
    # the private writable places before the Python binds, so a virtualenv under /tmp is bound on top of them
    for d in WRITABLE:
        os.makedirs(at(d), mode=0o755, exist_ok=True)
        _mount("tmpfs", at(d), "tmpfs", MS_NOSUID | MS_NODEV, _tmpfs_options(size, WRITABLE[d]))
    bound = ["/usr", *libdirs]
    for k in keeps:
        if any(_inside(k, b) for b in bound) and not any(_inside(k, h) for h in hidden):
            continue
        bind_dir(held[k], k)
        bound.append(k)
    for h in hidden:
        if os.path.isdir(at(h)):
            _mount(None, at(h), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,nr_inodes=16,mode=755")
    for fd in [*held.values(), proc_fd, *dev_fds.values(), *etc_fds.values()]:
        os.close(fd)
    os.chdir(new)
    if _libc.syscall(_SYS_PIVOT_ROOT[machine], b".", b".") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    if _libc.umount2(b".", MNT_DETACH) != 0:   # the old root is stacked on top of the new one: detach it
        err = ctypes.get_errno()
        raise OSError(err, f"detaching the old root: {os.strerror(err)}")
    os.chdir("/")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4m,nr_inodes=1024,mode=755")
    notes.append("allow-list root: " + ", ".join(bound) + " read-only; private /tmp, /var/tmp, /dev/shm, /run")


def _drop_privileges(uid, workdir, notes):
    """Become ``uid`` (a fresh one per sandbox) for good; only called while running as root."""
    os.chown(workdir, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    notes.append(f"runs as uid {uid} (no capabilities)")


_KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219, "i686": 288, "armv7l": 311, "ppc64le": 280, "s390x": 280}
KEYCTL_JOIN_SESSION_KEYRING = 1


def _leave_keyrings(notes):
    """Join a new, empty session keyring: the grading user's kernel keys (its login session keyring, which
    namespaces do not isolate) are out of reach, and nothing put there outlives this process."""
    nr = _KEYCTL_SYSCALL.get(os.uname().machine)
    if nr is None:
        notes.append("kernel keyrings: not isolated on this architecture")
        return
    if _libc.syscall(ctypes.c_long(nr), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), None) < 0:
        err = ctypes.get_errno()
        # ENOSYS / EPERM: keyctl is unavailable (e.g. a container's seccomp filter), so no keyring is reachable
        notes.append(f"kernel keyrings: keyctl unavailable ({os.strerror(err)})")
    else:
        notes.append("private session keyring")


# seccomp (a deny-list, audited against what a NumPy/PyTorch lab needs -- see the grader's README):
# * no new namespaces: unshare, setns, clone with any CLONE_NEW* flag; clone3 fails with ENOSYS (its flags sit
#   in memory a filter cannot read), so libc falls back to clone, whose flags the filter checks;
# * no mounts of any kind: mount, umount2, pivot_root, chroot and the new mount API (open_tree, move_mount,
#   fsopen, fsconfig, fsmount, fspick, mount_setattr, open_tree_attr) -- a tmpfs mounted in a namespace of
#   the student's making would hold memory no limit of the grader sees;
# * no io_uring (a large kernel surface that bypasses this filter's view of system calls), bpf,
#   perf_event_open, userfaultfd, ptrace and process_vm_readv/writev;
# * the kernel-keyring calls (add_key, request_key, keyctl -- keys outlive the sandbox, are listed
#   machine-wide, and request_key makes the host run /sbin/request-key as root), setsid (a new session
#   gets a scheduler group of its own), memfd_create and shmget (memory held in anonymous files or System V
#   segments is nobody's resident memory), and the terminal ioctls TIOCSTI and TIOCLINUX (typing into a
#   terminal);
# * any other ABI (x32, 32-bit) fails whole: nothing the sandbox runs needs it.
# Refused calls fail with EPERM (clone3: ENOSYS).
CLONE_NEW_FLAGS = 0x7E020000   # NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (0x80 is CSIGNAL)
TIOCSTI, TIOCLINUX = 0x5412, 0x541C
_DENIED = {   # name -> (x86_64, aarch64)
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "open_tree_attr": (467, 467), "io_uring_setup": (425, 425), "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427), "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219), "setsid": (112, 157),
    "memfd_create": (319, 279), "shmget": (29, 194),
}
_ARCH = {"x86_64": (0, 0xC000003E, 0x40000000, {"clone": 56, "clone3": 435, "ioctl": 16}),
         "aarch64": (1, 0xC00000B7, None, {"clone": 220, "clone3": 435, "ioctl": 29})}
PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_EPERM, _RET_ENOSYS = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def seccomp_program(machine):
    """The filter as ``(code, jt, jf, k)`` instructions for ``machine`` (None: no filter for it)."""
    if machine not in _ARCH:
        return None
    col, arch, x32_bit, nrs = _ARCH[machine]
    LD_W_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
    ARG0_LO, ARG1_LO = 16, 24           # seccomp_data.args[0], args[1]: low 32 bits (little-endian)
    prog = []                           # (code, jt label or offset, jf label or offset, k); labels resolved below

    def emit(code, k, jt=0, jf=0):
        prog.append([code, jt, jf, k])
    emit(LD_W_ABS, 4)                                   # arch
    emit(JEQ, arch, 0, "deny")
    emit(LD_W_ABS, 0)                                   # syscall number
    if x32_bit:
        emit(JGE, x32_bit, "deny", 0)
    emit(JEQ, nrs["clone3"], "enosys", 0)
    emit(JEQ, nrs["clone"], "clone", 0)
    emit(JEQ, nrs["ioctl"], "ioctl", 0)
    for name in sorted(_DENIED):
        emit(JEQ, _DENIED[name][col], "deny", 0)
    labels = {}
    emit(RET, _RET_ALLOW)
    labels["clone"] = len(prog)
    emit(LD_W_ABS, ARG0_LO)
    emit(JSET, CLONE_NEW_FLAGS, "deny", "allow")
    labels["ioctl"] = len(prog)
    emit(LD_W_ABS, ARG1_LO)
    emit(JEQ, TIOCSTI, "deny", 0)
    emit(JEQ, TIOCLINUX, "deny", 0)
    labels["allow"] = len(prog)
    emit(RET, _RET_ALLOW)
    labels["deny"] = len(prog)
    emit(RET, _RET_EPERM)
    labels["enosys"] = len(prog)
    emit(RET, _RET_ENOSYS)
    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        assert 0 <= jt < 256 and 0 <= jf < 256
        out.append((code, jt, jf, k))
    return out


def _seccomp_filter(notes):
    prog = seccomp_program(os.uname().machine)
    if prog is None:
        notes.append("no seccomp filter on this architecture")
        return
    arr = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), arr)
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "could not install the seccomp filter")
    notes.append("seccomp: no new namespaces or mounts, no io_uring, no kernel keyrings, no new sessions")


def _tmpfs_options(size, mode=None):
    """Mount options of a private tmpfs: bytes *and* inodes bounded (an empty file costs kernel memory too)."""
    inodes = max(64, size // 8192)            # 64 MB -> 8,192 files
    return f"size={size},nr_inodes={inodes}" + (f",mode={mode}" if mode else "")


def _limit_bwrap_tmpfs(cfg, notes):
    """bubblewrap mounts the writable places with a size but no inode limit: remount them with both."""
    size = cfg["limits"].get("tmpfs_bytes", 64 * 1024 * 1024)
    for d in WRITABLE:
        _mount(None, d, None, MS_REMOUNT | MS_NOSUID | MS_NODEV, _tmpfs_options(size))
    notes.append(f"private tmpfs: {size >> 20} MB and {max(64, size // 8192)} files each")


_CAPSET = {"x86_64": 126, "aarch64": 91}
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4


def _drop_capabilities():
    """Clear every capability of this process (a sandbox that keeps its uid: bubblewrap without root)."""
    nr = _CAPSET.get(os.uname().machine)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if nr is None:
        return
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)        # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()                       # effective, permitted, inheritable: all empty
    if _libc.syscall(ctypes.c_long(nr), header, data) != 0:
        raise OSError(ctypes.get_errno(), "could not drop capabilities")


def _isolate(cfg, notes):
    """Namespaces, privileges, the seccomp filter and rlimits; returns True when the uid drop is still to be done.

    Every mount and namespace this needs is made *before* the seccomp filter, which then refuses them all.
    """
    mode = cfg["mode"]
    _leave_keyrings(notes)
    if mode in ("root-ns", "user-ns"):
        _new_root(cfg, notes)
        os.makedirs(WORKDIR, mode=0o700)
        workdir = WORKDIR
    elif mode == "bwrap":   # bubblewrap built the allow-list root already
        _limit_bwrap_tmpfs(cfg, notes)
        os.makedirs(WORKDIR, mode=0o700)
        workdir = WORKDIR
        notes.append("allow-list root built by bubblewrap")
    else:
        workdir = cfg["workdir"]
        os.makedirs(workdir, mode=0o700, exist_ok=True)
    deferred = False
    if mode == "root-ns" or (mode == "bwrap" and os.geteuid() == 0):
        _drop_privileges(cfg["uid"], workdir, notes)
        _drop_capabilities()
    elif mode == "user-ns":
        # a nested user+mount namespace locks the masking mounts (they cannot be undone from inside)
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "could not enter a nested user namespace")
        notes.append("runs as your own uid inside a user namespace")
    elif mode == "bwrap":
        _drop_capabilities()
        notes.append("runs as your own uid inside a user namespace, no capabilities")
    elif os.geteuid() == 0:
        # no mount namespace: the Python installation may be unreadable to another uid (e.g. under
        # /root), so drop only after the imports that grading needs
        deferred = True
    _seccomp_filter(notes)
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    lim = cfg["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["fsize_bytes"], lim["fsize_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (lim["nofile"], lim["nofile"]))
    if os.getuid() >= 1_900_000_000 or deferred:  # RLIMIT_NPROC counts per real uid: only for a fresh uid
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"], lim["nproc"]))
    os.chdir(workdir)
    os.environ["HOME"] = workdir
    os.environ["TMPDIR"] = workdir
    return deferred


_PREIMPORT = ("collections", "itertools", "functools", "math", "cmath", "random", "re", "json", "time",
              "typing", "dataclasses", "copy", "string", "heapq", "bisect", "statistics", "operator",
              "warnings", "abc", "enum", "numbers", "fractions", "decimal", "textwrap", "unicodedata")


class _CourseUtilsStub:
    """Import hook: ``course_utils.grader`` is a no-op stub; other ``course_utils`` modules fail."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "course_utils" and not fullname.startswith("course_utils."):
            return None
        import importlib.machinery
        if fullname in ("course_utils", "course_utils.grader"):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        raise ImportError(f"{fullname} is not available while grading: answers may use the standard library, "
                          "numpy, torch and your own definitions", name=fullname)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__path__ = []
        if module.__name__ == "course_utils.grader":
            def for_lab(lab_id):
                def check(qid, *a, **k):
                    return None

                def submit(*a, **k):
                    return None
                return check, submit
            module.for_lab = for_lab


def _error_info(exc, kind="exception"):
    """What the grader may say about an exception: its class name and where in the notebook it was raised.

    Only structure: the grader shows the class name only if it is a built-in exception, and the place only
    if it names a real cell, line and definition of the notebook; the message itself is never sent (it
    could spell out a hidden input in any form).
    """
    info = {"kind": kind, "type": type(exc).__name__}
    try:
        for fr in traceback.extract_tb(exc.__traceback__):
            if fr.filename.startswith("<cell ") and fr.filename.endswith(">"):
                info.update(cell=fr.filename[6:-1], line=fr.lineno, func=fr.name)
    except BaseException:
        pass
    return info


def _safe_message(exc):
    """Exception type and, if short and free of long numbers, its message (load errors only: no hidden
    input exists in the process while the notebook's definitions load)."""
    name = type(exc).__name__
    try:
        text = str(exc)
    except BaseException:
        text = ""
    text = text.strip().splitlines()[0] if text.strip() else ""
    if len(text) > 160 or re.search(r"\d\.\d{3,}|\d{6,}", text):
        text = "(message withheld: it may contain hidden test values)"
    where = ""
    try:
        for fr in traceback.extract_tb(exc.__traceback__):
            if fr.filename.startswith("<cell "):
                where = f" at {fr.filename.strip('<>')}, line {fr.lineno}, in {fr.name}"
    except BaseException:
        pass
    return f"{name}: {text}{where}" if text else f"{name}{where}"


_ABSENT = object()


def _provide(pairs, ns):
    """Bind trusted definitions (the lab spec's ``Case.provide``) in ``ns`` for one call.

    Each source runs in a namespace of its own (it sees the student's as ``student_namespace``);
    returns what ``ns`` held before, for :func:`_restore`.
    """
    saved = {}
    for name, source in pairs:
        own = {"__builtins__": __builtins__, "__name__": "grader_provided", "student_namespace": ns}
        exec(compile(source, f"<grader: {name}>", "exec"), own)
        saved.setdefault(name, ns.get(name, _ABSENT))
        ns[name] = own[name]
    return saved


def _restore(saved, ns):
    for name, old in saved.items():
        if old is _ABSENT:
            ns.pop(name, None)
        else:
            ns[name] = old


def _oom_score_adj():
    try:
        with open("/proc/self/oom_score_adj") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _place_shared(case, kwargs, exchange, np):
    """Put the arrays the grader reads back itself (``case["shared"]``: ``[name, key or None, offset]``)
    in the exchange mapping, and hand the function views of it instead of private copies."""
    for name, key, offset in case.get("shared") or []:
        holder, slot = (kwargs, name) if key is None else (kwargs[name], key)
        a = np.ascontiguousarray(holder[slot])
        view = np.ndarray(a.shape, dtype=a.dtype, buffer=exchange, offset=offset)
        view[...] = a
        holder[slot] = view


def main():
    fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
    fd_exchange = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    (n,) = struct.unpack(">Q", _raw_read(fd_in, 8))
    cfg = json.loads(_raw_read(fd_in, n))
    with open(cfg["wire_path"], encoding="utf-8") as f:
        wire_src = f.read()
    notes = []
    devnull = os.open(os.devnull, os.O_RDWR)
    exchange = None
    if fd_exchange >= 0:       # memory the grader reads itself: evidence no code in this process can rewrite
        import mmap
        exchange = mmap.mmap(fd_exchange, cfg["exchange_bytes"], mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        os.close(fd_exchange)
    try:
        drop_later = _isolate(cfg, notes)
    except OSError as exc:
        os.write(2, f"sandbox isolation failed: {exc}\n".encode())
        os._exit(70)
    wire = types.ModuleType("course_sandbox_wire")
    exec(compile(wire_src, "wire.py", "exec"), wire.__dict__)  # imports numpy
    import numpy as np
    torch = None
    if cfg["torch"]:
        import torch
        torch.set_num_threads(1)
    import random
    if drop_later:
        import importlib
        for name in _PREIMPORT:
            importlib.import_module(name)
        wire.decode(wire.encode({"warm-up": np.zeros(1)}))  # np.savez/np.load import zipfile lazily
        _drop_privileges(cfg["uid"], cfg["workdir"], notes)
    # first in line for the kernel's OOM killer: the grader set it before exec, while it still could
    # (an unprivileged, non-dumpable process cannot write its own /proc files); read back for the grader
    oom_adj = _oom_score_adj()
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = vm + cfg["limits"]["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.meta_path.insert(0, _CourseUtilsStub())
    for name in [m for m in sys.modules if m == "course_utils" or m.startswith("course_utils.")]:
        del sys.modules[name]
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    sys.stdin = open(os.devnull)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing past the file-size limit fails with EFBIG

    def send(msg):
        try:
            body = wire.encode(msg, lenient=True)
        except Exception:  # student value that is not plain data
            body = wire.encode({"event": msg.get("event"), "index": msg.get("index"), "ok": False,
                                "error": {"kind": "not_plain_data"}})
        wire.write_frame(fd_out, body)

    ns = {"__name__": "__main__", "__builtins__": __builtins__}
    send({"event": "ready", "notes": notes, "pid": os.getpid(), "oom_score_adj": oom_adj})
    while True:
        try:
            req = wire.decode(wire.read_frame(fd_in))
        except EOFError:
            return
        op = req["op"]
        if op == "load":
            errors = []
            for unit in req["units"]:
                i = unit["index"]
                send({"event": "unit", "index": i})
                try:
                    tree = ast.parse(unit["source"])
                    ast.increment_lineno(tree, unit["line"] - 1)
                    exec(compile(tree, f"<cell {unit['cell'] + 1}>", "exec"), ns)
                except BaseException as exc:  # SystemExit and KeyboardInterrupt included
                    errors.append({"index": i, "error": _safe_message(exc)})
            send({"event": "loaded", "errors": errors})
        elif op == "call":
            for k, case in enumerate(req["cases"]):
                saved = _provide(case.get("provide") or [], ns)
                try:
                    func = ns.get(case["func"])
                    if not callable(func):
                        send({"event": "result", "index": k, "ok": False, "error": {"kind": "not_defined"}})
                        continue
                    kwargs = case["kwargs"]
                    if exchange is not None:
                        _place_shared(case, kwargs, exchange, np)
                    if case["seed"] is not None:
                        np.random.seed(case["seed"])
                        random.seed(case["seed"])
                        if torch is not None:
                            torch.manual_seed(case["seed"])
                    started = time.perf_counter()
                    try:
                        value = func(**kwargs)
                        extra = {name: kwargs[name] for name in case["returns_kwargs"]}
                    except BaseException as exc:
                        info = _error_info(exc, "not_implemented" if type(exc) is NotImplementedError else "exception")
                        send({"event": "result", "index": k, "ok": False, "error": info})
                        continue
                    send({"event": "result", "index": k, "ok": True, "value": value, "after": extra,
                          "seconds": time.perf_counter() - started})
                finally:
                    _restore(saved, ns)
            send({"event": "done"})
        else:
            return


if __name__ == "__main__":
    main()
