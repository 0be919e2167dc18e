"""nbgitpuller links: one click opens a lecture or lab on a JupyterHub, with the course pulled first.

    course links --hub https://hub.example.edu [--repo URL] [--branch main] [--labs] [--interface lab]

A link has the form ``HUB/hub/user-redirect/git-pull?repo=...&branch=...&urlpath=lab/tree/DIR/PATH``
(nbgitpuller's documented parameters). nbgitpuller clones the repository into ``~/DIR`` on the first
click and merges on later clicks without overwriting what the student changed, so the pulled folder
is the student's own copy. ``DIR`` is the repository's name unless ``--target`` says otherwise.
The hub's image must have nbgitpuller installed (``binder/requirements.txt`` has it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from ..notebooks import COURSE_ROOT

__all__ = ["LinkError", "nbgitpuller_link", "course_notebooks", "default_repo", "register"]


class LinkError(ValueError):
    """A hub or repository address that cannot make a working link; the message says why."""


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise LinkError(f"{what} {url!r} is not an http(s) address (e.g. https://hub.example.edu)")
    if parts.query or parts.fragment:
        raise LinkError(f"{what} {url!r} must not carry a query or fragment")
    return url.rstrip("/")


def repo_dir_name(repo: str) -> str:
    """The folder nbgitpuller clones ``repo`` into: the last path component, without ``.git``."""
    name = urlsplit(repo).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    if not name:
        raise LinkError(f"cannot tell the repository's name from {repo!r}")
    return name


def nbgitpuller_link(hub: str, repo: str, path: str, *, branch: str = "main", interface: str = "lab",
                     target: str | None = None) -> str:
    """The nbgitpuller link that opens ``path`` (relative to the repository) on ``hub``.

    ``interface``: ``lab`` (JupyterLab) or ``tree`` (classic Notebook 7 file view).
    """
    hub = _check_url(hub, "hub address")
    repo = _check_url(repo, "repository address")
    if interface not in ("lab", "tree"):
        raise LinkError(f"interface must be 'lab' or 'tree', not {interface!r}")
    if not branch or any(c.isspace() for c in branch):
        raise LinkError(f"branch {branch!r} is not a branch name")
    folder = target or repo_dir_name(repo)
    urlpath = f"{'lab/tree' if interface == 'lab' else 'tree'}/{quote(folder)}/{quote(path)}"
    params = {"repo": repo, "branch": branch, "urlpath": urlpath}
    if target:
        params["targetPath"] = target
    return f"{hub}/hub/user-redirect/git-pull?{urlencode(params, quote_via=quote, safe='')}"


def course_notebooks(root: Path = COURSE_ROOT, labs: bool = True) -> list[str]:
    """The repository paths of every lecture (and, with ``labs``, every student lab), in course order."""
    found = sorted(p.relative_to(root).as_posix() for p in (root / "lectures").glob("[0-9][0-9]*.ipynb"))
    if labs:
        found += sorted(p.relative_to(root).as_posix() for p in (root / "labs").glob("[0-9][0-9]*_lab.ipynb"))
    return sorted(found, key=lambda p: (Path(p).name[:3], p.startswith("labs/"), p))


def default_repo(root: Path = COURSE_ROOT) -> str | None:
    """The ``origin`` remote of the course repository as an https address, or ``None``."""
    try:
        url = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if url.startswith("git@") and ":" in url:             # git@host:owner/name.git -> https://host/owner/name.git
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    return url if url.startswith(("https://", "http://")) else None


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("links", help="print the nbgitpuller link of every lecture and lab for a JupyterHub")
    p.add_argument("--hub", required=True, help="the hub's address, e.g. https://hub.example.edu")
    p.add_argument("--repo", default=None, help="the course repository (default: git's origin remote)")
    p.add_argument("--branch", default="main")
    p.add_argument("--interface", choices=["lab", "tree"], default="lab")
    p.add_argument("--target", default=None, help="folder in the students' home (default: the repository's name)")
    p.add_argument("--no-labs", action="store_true", help="lectures only")
    p.add_argument("--markdown", action="store_true", help="a Markdown list, for a course page or an LMS")
    p.set_defaults(func=_cmd_links)


def _cmd_links(args: argparse.Namespace) -> int:
    repo = args.repo or default_repo()
    if repo is None:
        print("course links: no --repo given and this checkout has no https 'origin' remote; "
              "pass --repo https://host/owner/course.git", file=sys.stderr)
        return 2
    try:
        rows = [(p, nbgitpuller_link(args.hub, repo, p, branch=args.branch, interface=args.interface,
                                     target=args.target)) for p in course_notebooks(labs=not args.no_labs)]
    except LinkError as exc:
        print(f"course links: {exc}", file=sys.stderr)
        return 2
    for path, link in rows:
        print(f"- [{path}]({link})" if args.markdown else f"{path}\t{link}")
    return 0
