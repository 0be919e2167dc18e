"""The submission exchange of a course on a multi-user hub: students drop, the instructor collects.

On a JupyterHub every student has a server of their own, so a grade recorded by ``submit()`` in the
student's gradebook is out of the instructor's reach (and in the student's hands). With an exchange,
``submit()`` also drops the saved notebook into a folder shared by the course; the instructor collects
the drops and grades them with ``course grade``, whose grades are the ones that count.

Layout (``course exchange init DIR [--group STAFF]``, like nbgrader's exchange)::

    DIR/                                   instructor, 0755
    DIR/inbound/                           instructor:STAFF, 3733 (sticky and setgid: everyone may enter
                                           and create, nobody else may list, rename or delete)
    DIR/inbound/<student>/                 the student, 2750 (0700 without --group): made by the first drop
    DIR/inbound/<student>/<lab>_lab.ipynb  the student, 0640 (0600 without --group): the latest drop

What keeps students apart is the file system: a student's folder and files belong to that student and
are closed to others (other students are not in STAFF), and the sticky bit stops anyone from renaming
or removing what is not theirs. A student who creates a folder under someone else's name gains nothing:
:func:`collect` takes a folder only when it belongs to the account of that name (``--owner-pattern``,
e.g. ``jupyter-{name}`` on The Littlest JupyterHub), and refuses hard links and symbolic links.

``course exchange init DIR --students roster.txt`` (as root) makes every student's folder beforehand,
owned by that student's account, so that no name can be taken first.

Where every student runs as the same uid (Zero to JupyterHub's default, uid 1000), permissions cannot
keep them apart: there the hub mounts each student's own ``inbound/<name>`` folder and nothing else
(``docs/hub.md``), the folders are made with ``--students roster.txt --owner-uid 1000``, and the
instructor collects with ``check_owner=False`` (``--no-owner-check``).

The student side is switched on by the environment variable ``COURSE_EXCHANGE_DIR`` (the course's
exchange folder); ``submit()`` then calls :func:`drop_if_configured`. The folder name is
``$JUPYTERHUB_USER`` (every JupyterHub sets it) or else the login name.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EXCHANGE_ENV", "ExchangeError", "CollectReport", "exchange_dir", "exchange_user", "init_exchange",
           "drop_submission", "drop_if_configured", "collect", "register"]

EXCHANGE_ENV = "COURSE_EXCHANGE_DIR"
INBOUND = "inbound"
MAX_BYTES = 20 * 1024 * 1024            # the grader's limit on a notebook (course_utils.notebooks)
_NAME = re.compile(r"[A-Za-z0-9_@+][A-Za-z0-9_.@+-]{0,99}")    # the grader's student-id rule
_LAB_FILE = re.compile(r"\d\d\w*_lab\.ipynb")
_NAME_RULE = "1-100 characters: letters, digits and _ . @ + - (not starting with . or -)"


class ExchangeError(Exception):
    """The exchange is missing, unsafe, or a file cannot be dropped or collected; the message says why."""


def exchange_dir() -> Path | None:
    """The exchange folder named by ``$COURSE_EXCHANGE_DIR``, or ``None`` when it is not set."""
    value = os.environ.get(EXCHANGE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def exchange_user() -> str:
    """The name of this student's folder: ``$JUPYTERHUB_USER``, else the login name of this uid."""
    name = os.environ.get("JUPYTERHUB_USER", "").strip()
    if not name:
        try:
            name = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            raise ExchangeError(f"uid {os.geteuid()} has no login name and JUPYTERHUB_USER is not set; "
                                "the exchange cannot tell whose submission this is") from None
    return _check_name(name)


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ExchangeError(f"{name[:60]!r} cannot name an exchange folder ({_NAME_RULE})")
    return name


def _open_dir(path: str | Path, dir_fd: int | None = None, listing: bool = False) -> int:
    """A descriptor of the folder ``path``, refusing a symbolic link in its last component.

    Without ``listing`` it is an ``O_PATH`` descriptor: enough to create and open names inside a
    folder one may enter but not list (the inbound folder, for students).
    """
    flags = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_RDONLY if listing else os.O_PATH)
    try:
        return os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        raise ExchangeError(f"{path} does not exist; the instructor creates the exchange with "
                            "`course exchange init DIR`") from None
    except NotADirectoryError:
        raise ExchangeError(f"{path} is not a folder (or is a symbolic link); the exchange needs real folders") from None
    except OSError as exc:
        if exc.errno == 40:     # ELOOP: O_NOFOLLOW met a symbolic link
            raise ExchangeError(f"{path} is a symbolic link; the exchange needs real folders") from None
        raise ExchangeError(f"{path} cannot be opened: {exc.strerror}") from None


def init_exchange(root: str | Path, group: str | None = None, students: list[str] | None = None,
                  owner_uid: int | None = None, uid_of: Callable[[str], int | None] | None = None) -> Path:
    """Create (or repair) the exchange at ``root``; return its inbound folder.

    ``group``: the staff group that may read the drops (students must not be in it). Without it only
    root reads them (the files are 0600). Run it as the instructor who owns ``root``.
    ``students``: make each student's folder now (needs root), owned by the account of that name
    (``uid_of``, default the system's accounts) or by ``owner_uid`` for all (a hub where every student
    runs as one uid and sees only their own folder, mounted). Nobody can then take a name first.
    """
    root = Path(root)
    gid = -1
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ExchangeError(f"there is no group {group!r}; create it (groupadd {group}) with the staff "
                                "in it, or leave --group out") from None
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    inbound = root / INBOUND
    if inbound.is_symlink():
        raise ExchangeError(f"{inbound} is a symbolic link; remove it and run init again")
    inbound.mkdir(exist_ok=True)
    if gid != -1:
        os.chown(inbound, -1, gid)
    os.chmod(inbound, 0o1733 | (stat.S_ISGID if gid != -1 else 0))
    uid_of = uid_of or _default_uid_of
    for name in students or []:
        _check_name(name)
        uid = owner_uid if owner_uid is not None else uid_of(name)
        if uid is None:
            raise ExchangeError(f"there is no account {name!r}; pass --owner-uid for a hub whose students share one uid")
        folder = inbound / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise ExchangeError(f"{folder} is not a folder; remove it and run init again")
        folder.mkdir(exist_ok=True)
        os.chown(folder, uid, gid if gid != -1 else -1)
        os.chmod(folder, 0o2750 if gid != -1 else 0o700)
    return inbound


def _check_inbound(fd: int, path: Path) -> os.stat_result:
    st = os.fstat(fd)
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise ExchangeError(f"{path} is writable by everyone without the sticky bit, so anyone could replace "
                            "anyone's folder; the instructor fixes it with `course exchange init`")
    return st


def drop_submission(notebook: str | Path, exchange: str | Path, name: str | None = None,
                    lab: str | None = None) -> Path:
    """Copy the saved ``notebook`` into this student's folder of ``exchange``; return the dropped file.

    It is stored as ``<lab>_lab.ipynb`` (``lab`` such as ``"03_rnn_basics"``; by default the notebook's
    own name, which must then be a lab's), whatever the student called their copy.

    The file is written next to its final name and renamed over it (the latest drop wins, a reader
    never sees half a file); it is 0640 when the inbound folder carries a staff group (setgid), else
    0600. Raises :class:`ExchangeError` when the folder under this student's name belongs to someone
    else, when anything on the way is a symbolic link, or when the notebook is too large.
    """
    notebook = Path(notebook)
    filename = f"{lab.removesuffix('.ipynb').removesuffix('_lab')}_lab.ipynb" if lab else notebook.name
    if not _LAB_FILE.fullmatch(filename):
        raise ExchangeError(f"{filename!r} is not the name of a lab notebook (NN_topic_lab.ipynb); "
                            "name the lab, e.g. --lab 03_rnn_basics")
    data = _read_limited(notebook)
    name = _check_name(name) if name is not None else exchange_user()
    inbound_path = Path(exchange) / INBOUND
    inbound = _open_dir(inbound_path)
    try:
        shared = bool(_check_inbound(inbound, inbound_path).st_mode & stat.S_ISGID)
        old = os.umask(0o027 if shared else 0o077)   # no chmod of the folder: it would drop the setgid bit
        try:
            os.mkdir(name, 0o750 if shared else 0o700, dir_fd=inbound)
        except FileExistsError:
            pass
        except PermissionError:
            raise ExchangeError(f"there is no folder {inbound_path / name} and you may not create it; on a hub that "
                                "mounts each student's own folder, the one mounted has another name: tell your "
                                "instructor") from None
        finally:
            os.umask(old)
        mine = _open_dir(name, dir_fd=inbound)
    finally:
        os.close(inbound)
    try:
        st = os.fstat(mine)
        if st.st_uid != os.geteuid():
            raise ExchangeError(f"the exchange folder {inbound_path / name} belongs to uid {st.st_uid}, not to you "
                                f"(uid {os.geteuid()}): someone else created it; tell your instructor")
        if st.st_mode & 0o027:
            raise ExchangeError(f"{inbound_path / name} is open to others (mode {stat.S_IMODE(st.st_mode):o}); "
                                f"close it with chmod go-w,o-rx {inbound_path / name}")
        mode = 0o640 if shared else 0o600
        tmp = f".{filename}.{secrets.token_hex(6)}.part"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=mine)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.rename(tmp, filename, src_dir_fd=mine, dst_dir_fd=mine)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=mine)
            except OSError:
                pass
            raise
    finally:
        os.close(mine)
    return inbound_path / name / filename


def drop_if_configured(notebook: str | Path, lab: str) -> str | None:
    """The hook ``submit()`` calls: drop ``notebook`` when ``$COURSE_EXCHANGE_DIR`` is set.

    ``lab``: the lab's id (``"03_rnn_basics"``); the drop is stored under that lab's file name.
    Returns a line for the student (where the file went, or why it did not), or ``None`` when no
    exchange is configured. Never raises for exchange problems: the feedback report still comes.
    """
    root = exchange_dir()
    if root is None:
        return None
    try:
        dropped = drop_submission(notebook, root, lab=lab)
    except (ExchangeError, OSError) as exc:
        return f"NOT handed in to the course exchange: {exc}"
    return f"Handed in to the course exchange: {dropped} (your instructor grades this copy)."


def _read_limited(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise ExchangeError(f"{path} is not a regular file")
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ExchangeError(f"{path} is larger than {MAX_BYTES // 2**20} MiB; clear large outputs and save again")
    return data


@dataclass
class CollectReport:
    """What :func:`collect` copied (``(student, file)``) and refused (``(path, why)``)."""
    copied: list[tuple[str, Path]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def _default_uid_of(account: str) -> int | None:
    """The uid of the account named ``account`` (``None`` when there is none)."""
    try:
        return pwd.getpwnam(account).pw_uid
    except KeyError:
        return None


def collect(exchange: str | Path, dest: str | Path, *, owner_pattern: str = "{name}",
            check_owner: bool = True, uid_of: Callable[[str], int | None] | None = None) -> CollectReport:
    """Copy every student's latest drops from ``exchange`` to ``dest/<student>/<lab>_lab.ipynb``.

    ``dest`` is then what ``course grade`` reads (a sub-folder names the student). With ``check_owner``
    a folder ``inbound/<name>`` is taken only when it belongs to the account ``owner_pattern`` names
    (``{name}`` by default; ``jupyter-{name}`` on The Littlest JupyterHub), and each file only when it
    belongs to that account too and has no other hard link. Symbolic links are never followed.
    Copies keep the drop's modification time. ``uid_of`` maps an account name to its uid (default:
    the system's accounts, ``pwd``).
    """
    uid_of = uid_of or _default_uid_of
    report = CollectReport()
    inbound_path = Path(exchange) / INBOUND
    inbound = _open_dir(inbound_path, listing=True)
    dest = Path(dest)
    try:
        with os.scandir(inbound) as it:
            entries = sorted(e.name for e in it)
        for name in entries:
            where = str(inbound_path / name)
            try:
                st = os.stat(name, dir_fd=inbound, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    raise ExchangeError("not a folder (a symbolic link or a file); ignored")
                _check_name(name)
                if check_owner:
                    account = owner_pattern.format(name=name)
                    uid = uid_of(account)
                    if uid is None:
                        raise ExchangeError(f"there is no account {account!r}; not collected")
                    if st.st_uid != uid:
                        raise ExchangeError(f"belongs to uid {st.st_uid}, not to {account} (uid {uid}): another "
                                            "account made it; not collected")
                sfd = _open_dir(name, dir_fd=inbound, listing=True)
            except (ExchangeError, OSError) as exc:
                report.refused.append((where, str(exc)))
                continue
            try:
                _collect_student(sfd, name, st.st_uid, dest / name, check_owner, report, Path(where))
            finally:
                os.close(sfd)
    finally:
        os.close(inbound)
    return report


def _collect_student(sfd: int, name: str, uid: int, out: Path, check_owner: bool, report: CollectReport,
                     where: Path) -> None:
    with os.scandir(sfd) as it:
        files = sorted(e.name for e in it if _LAB_FILE.fullmatch(e.name))
    for fname in files:
        try:
            fd = os.open(fname, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=sfd)
        except OSError as exc:
            report.refused.append((str(where / fname), f"cannot be opened ({exc.strerror}); a symbolic link "
                                                       "is never followed"))
            continue
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            why = None
            if not stat.S_ISREG(st.st_mode):
                why = "not a regular file"
            elif check_owner and st.st_uid != uid:
                why = f"belongs to uid {st.st_uid}, not to the folder's owner (uid {uid})"
            elif st.st_nlink != 1:
                why = "has other hard links (it may be someone else's file)"
            elif st.st_size > MAX_BYTES:
                why = f"larger than {MAX_BYTES // 2**20} MiB"
            if why:
                report.refused.append((str(where / fname), why + "; not collected"))
                continue
            data = f.read(MAX_BYTES + 1)
        out.mkdir(parents=True, exist_ok=True)
        target = out / fname
        tmp = out / f".{fname}.part"
        tmp.write_bytes(data)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        tmp.replace(target)
        report.copied.append((name, target))


# ------------------------------------------------------------------------------------ command line

def register(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    """``course exchange init|submit|collect`` (see :mod:`course_utils.cli`)."""
    p = subparsers.add_parser("exchange", help="the course's submission exchange on a multi-user hub")
    sub = p.add_subparsers(dest="exchange_cmd", required=True, metavar="ACTION")
    i = sub.add_parser("init", help="create the exchange folder (instructor)")
    i.add_argument("dir", type=Path)
    i.add_argument("--group", default=None, help="staff group that may read the drops (students must not be in it)")
    i.add_argument("--students", type=Path, default=None,
                   help="a file of student names, one a line: make their folders now (as root)")
    i.add_argument("--owner-uid", type=int, default=None,
                   help="with --students: the uid that owns every folder (students share one uid, e.g. 1000)")
    s = sub.add_parser("submit", help="hand in a saved lab notebook (what submit() does when COURSE_EXCHANGE_DIR is set)")
    s.add_argument("notebook", type=Path)
    s.add_argument("--exchange", type=Path, default=None, help=f"exchange folder (default ${EXCHANGE_ENV})")
    s.add_argument("--lab", default=None, help="the lab (e.g. 03_rnn_basics) when the file is not named after it")
    c = sub.add_parser("collect", help="copy the latest drops into a folder for `course grade` (instructor)")
    c.add_argument("--exchange", type=Path, default=None, help=f"exchange folder (default ${EXCHANGE_ENV})")
    c.add_argument("--to", type=Path, required=True, help="destination folder: DEST/<student>/<lab>_lab.ipynb")
    c.add_argument("--owner-pattern", default="{name}",
                   help="account that must own inbound/<name> (default {name}; jupyter-{name} on TLJH)")
    c.add_argument("--no-owner-check", action="store_true",
                   help="students share one uid and the hub mounts each one's folder alone (Zero to JupyterHub)")
    p.set_defaults(func=_cmd_exchange)


def _cmd_exchange(args) -> int:  # noqa: ANN001
    import sys
    try:
        if args.exchange_cmd == "init":
            names = None
            if args.students is not None:
                names = [n.strip() for n in args.students.read_text().splitlines()
                         if n.strip() and not n.lstrip().startswith("#")]
            inbound = init_exchange(args.dir, args.group, names, args.owner_uid)
            print(f"exchange ready: students drop into {inbound}/<name>/; set {EXCHANGE_ENV}={args.dir} "
                  "in their servers' environment")
            return 0
        root = args.exchange or exchange_dir()
        if root is None:
            raise ExchangeError(f"no exchange folder: pass --exchange DIR or set {EXCHANGE_ENV}")
        if args.exchange_cmd == "submit":
            print(f"handed in: {drop_submission(args.notebook, root, lab=args.lab)}")
            return 0
        if "{name}" not in args.owner_pattern:
            raise ExchangeError("--owner-pattern must contain {name}")
        report = collect(root, args.to, owner_pattern=args.owner_pattern, check_owner=not args.no_owner_check)
    except ExchangeError as exc:
        print(f"course exchange {args.exchange_cmd}: {exc}", file=sys.stderr)
        return 2
    for where, why in report.refused:
        print(f"refused {where}: {why}", file=sys.stderr)
    students = sorted({s for s, _ in report.copied})
    print(f"collected {len(report.copied)} notebook(s) of {len(students)} student(s) into {args.to}; "
          f"grade them with: course grade {args.to}")
    return 2 if report.refused else 0
