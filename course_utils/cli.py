"""The ``course`` command line.

    course assign [--check]                 generate labs/ from solutions/ (or check they are in sync)
    course data fetch|add|list ...          manage the data cache
    course nb run NOTEBOOK...               execute notebooks headless and save their outputs
    course workspace [--reset NAME...]      copy lectures and labs into workspace/ for JupyterLab

Every command runs NumPy's BLAS and torch on one CPU thread unless ``COURSE_BLAS_THREADS`` /
``COURSE_TORCH_THREADS`` say otherwise (see :func:`course_utils.runtime.limit_threads`).

Sub-commands of other modules register themselves through a ``register(subparsers)`` function;
their modules are listed in ``PLUGINS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

__all__ = ["main", "build_parser"]

PLUGINS: list[str] = [
    "course_utils.charrnn.cli",
    "course_utils.grader.cli",
    "course_utils.delivery.cli",
    "course_utils.delivery.links",      # course links --hub URL
    "course_utils.delivery.exchange",   # course exchange init|submit|collect
]


def _cmd_assign(args: argparse.Namespace) -> int:
    from .assign import AssignError, assign_all
    try:
        touched = assign_all(args.solutions, args.labs, check=args.check)
    except AssignError as exc:
        print(f"course assign: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if touched:
            print("labs/ is out of date with solutions/; run `course assign` to regenerate:", file=sys.stderr)
            for p in touched:
                print(f"  {p}", file=sys.stderr)
            return 1
        print("labs/ is in sync with solutions/")
        return 0
    for p in touched:
        print(f"wrote {p}")
    if not touched:
        print("labs/ already up to date")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .data.corpora import CORPORA, CorpusNotAvailable, add_corpus, corpus_path, fetch_corpus
    from .data.download import ChecksumError, cache_dir
    try:
        if args.data_cmd == "fetch":
            path = fetch_corpus(args.name, url=args.url)
            print(f"downloaded {args.name} to {path} (sha256 verified)")
        elif args.data_cmd == "add":
            path = add_corpus(args.name, args.path)
            print(f"registered {args.name}: {path} (sha256 verified)")
        else:
            print(f"cache: {cache_dir()}")
            for name in sorted(CORPORA):
                p = corpus_path(name)
                print(f"  {name:12s} {'cached' if p.exists() else 'missing'}  {p}")
            print("  python       shipped: data/corpora/python-stdlib.txt.gz (Python 3.11 standard library)")
            print("  c            shipped: data/corpora/c-sqlite-select.txt.gz (SQLite's select.c)")
    except (CorpusNotAvailable, ChecksumError, FileNotFoundError, ValueError) as exc:
        print(f"course data {args.data_cmd}: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_cnn(args: argparse.Namespace) -> int:
    from .cnn import CONFIGS, load_cnn
    kinds = sorted(CONFIGS) if args.kind == "all" else [args.kind]
    for kind in kinds:
        _, info = load_cnn(kind, args.device, retrain=args.retrain or args.ship, ship=args.ship)
        where = (f"{info['source']} weights" if info["cached"]
                 else f"trained in {info['seconds']:.1f} s on {info['device']}")
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in info["test"].items())
        print(f"{kind:7s} {where}; test {metrics}")
    return 0


def _cmd_nb_run(args: argparse.Namespace) -> int:
    from .notebooks import NotebookError, execute_notebook
    status = 0
    for path in args.notebooks:
        try:
            _, seconds = execute_notebook(path, timeout=args.timeout)
            print(f"{path}: executed in {seconds:.1f} s")
        except NotebookError as exc:
            print(f"course nb run: {exc}", file=sys.stderr)
            status = 2
        except Exception as exc:  # nbclient's CellExecutionError carries the traceback text
            print(f"{path}: failed\n{exc}", file=sys.stderr)
            status = 1
    return status


def _cmd_workspace(args: argparse.Namespace) -> int:
    from .workspace import sync_workspace
    try:
        report = sync_workspace(args.dir, reset=args.reset)
    except (ValueError, OSError) as exc:
        print(f"course workspace: {exc}", file=sys.stderr)
        return 2
    for p in report.copied:
        print(f"copied {p.relative_to(report.root)}")
    print(f"workspace {report.root}: {len(report.copied)} notebook(s) copied, {len(report.kept)} of yours kept as they are")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description="Visualising CNNs and RNNs: course tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("assign", help="generate labs/ from solutions/")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 and name the stale labs")
    p.add_argument("--solutions", type=Path, default=None, help="folder of solution notebooks")
    p.add_argument("--labs", type=Path, default=None, help="folder of generated labs")
    p.set_defaults(func=_cmd_assign)

    p = sub.add_parser("data", help="manage the data cache")
    dsub = p.add_subparsers(dest="data_cmd", required=True, metavar="ACTION")
    f = dsub.add_parser("fetch", help="download a corpus into the cache (checksum verified)")
    f.add_argument("name", choices=["shakespeare"])
    f.add_argument("--url", default=None, help="download from this address instead of the canonical one")
    a = dsub.add_parser("add", help="register a local copy of a corpus (checksum verified)")
    a.add_argument("name", choices=["shakespeare"])
    a.add_argument("path", type=Path)
    dsub.add_parser("list", help="show the cache")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("cnn", help="show the course CNNs (units 1, 2, 7), or train them into the data cache")
    p.add_argument("kind", nargs="?", default="all", choices=["all", "digits", "scenes"])
    p.add_argument("--retrain", action="store_true",
                   help="train on this machine into data/cache/cnn/ (used where no shipped copy in data/cnn/ matches)")
    p.add_argument("--ship", action="store_true",
                   help="instructors: train and also write the shipped copy in data/cnn/ (commit it)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    p.set_defaults(func=_cmd_cnn)

    p = sub.add_parser("nb", help="notebook tools")
    nsub = p.add_subparsers(dest="nb_cmd", required=True, metavar="ACTION")
    r = nsub.add_parser("run", help="execute notebooks headless and save outputs (normalised)")
    r.add_argument("notebooks", nargs="+", type=Path)
    r.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    r.set_defaults(func=_cmd_nb_run)

    p = sub.add_parser("workspace", help="copy the lectures and labs into workspace/ (your copies, never overwritten)")
    p.add_argument("--dir", type=Path, default=None, help="workspace folder (default $COURSE_WORKSPACE, else workspace/)")
    p.add_argument("--reset", nargs="+", default=[], metavar="NAME",
                   help="take a fresh copy of these notebooks (yours is kept as NAME.ipynb.bak)")
    p.set_defaults(func=_cmd_workspace)

    for name in PLUGINS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .runtime import limit_threads
    try:   # one BLAS/torch thread unless COURSE_BLAS_THREADS / COURSE_TORCH_THREADS say otherwise
        limit_threads()
    except ValueError as exc:
        print(f"course: {exc}", file=sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
