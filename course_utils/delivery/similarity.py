"""``course similarity DIR``: which submitted notebooks share code, with each other or with the course's own.

1. **What a student wrote** (:func:`student_code`): the code cells of the notebook without the lab's
   starter code -- every line of the handed-out lab (signatures, docstrings, ``check`` calls, the course's
   own cells) is removed, so two untouched labs have nothing left to compare.
2. **Fingerprints**: copydetect's winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003), run offline:
   the code is tokenised with Pygments, every name becomes ``V``/``F``/``O`` and every string ``S``,
   comments and layout are dropped (so renaming, reformatting and removed comments change nothing),
   hashes of k-grams of that text are winnowed, and matching hashes mark the copied regions. Reordered
   statements still share their own k-grams. The lab's starter code is also passed as boilerplate.
3. **Shared by most**: fingerprints found in more than half of a lab's submissions (4 or more) are ignored
   like the starter code (as MOSS's ``-m``): the short answer every correct solution writes is no evidence.
4. **Score** of a pair: the larger of the two shares of each file's fingerprinted code found in the
   other (1 = the same code after normalisation). k = 25 characters of normalised code: a shared one-line
   formula (``V=V.V(V@V+V@V+V)``) is shorter than one k-gram and cannot make two students similar.
5. **Against the course**: each student is also compared with every ``course_utils`` module (the
   reference implementations the lectures teach with) and with the lab's solution blocks.

CSV: ``a,b,lab,score``, one row per pair, highest first. HTML: the ranked table and, for each pair at or
above the threshold (and at least the top 10), both codes side by side with the matching regions marked;
every piece of student text is HTML-escaped.

The default threshold, :data:`DEFAULT_THRESHOLD`, is calibrated on independent implementations of the same
functions (:func:`calibrate`; README, "Instructors: running a class").
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..grader.safety import clean_text
from ..notebooks import COURSE_ROOT, NotebookError, read_notebook

__all__ = ["Submission", "Pair", "student_code", "load_submissions", "compare_all", "write_csv", "write_html",
           "calibrate", "DEFAULT_THRESHOLD", "NOISE_K", "WINDOW"]

NOISE_K = 25            # copydetect's default noise threshold: matches shorter than this are ignored
WINDOW = 6              # guarantee threshold 30 - noise threshold 25 + 1 (copydetect's defaults)
DEFAULT_THRESHOLD = 0.5
COMMON_FRACTION = 0.5   # fingerprints in more than half of a lab's submissions are ignored (MOSS's -m)
_LAB_FILE = re.compile(r"^(?P<lab>\d\d_[A-Za-z0-9_]+?)_lab$")
_MAX_FILES = 5000


@dataclass
class Submission:
    """One document to compare: a student's code (or a reference), with its lab."""
    name: str
    lab: str
    code: str
    kind: str = "student"            # student, library, solution


@dataclass
class Pair:
    a: str
    b: str
    lab: str
    score: float
    slices_a: Any = None
    slices_b: Any = None
    code_a: str = ""
    code_b: str = ""


def _code_cells(nb: Any) -> list[str]:
    return [c.source if isinstance(c.source, str) else "".join(c.source) for c in nb.cells if c.cell_type == "code"]


def canonical(source: str) -> str:
    """One cell's code in a canonical layout: parsed and printed again by ``ast`` (spacing, parentheses, line breaks
    and comments normalised), docstrings removed; magics and shell lines dropped. Code that does not parse keeps
    its lines without comments."""
    import ast
    lines = [line for line in source.split("\n") if not line.lstrip().startswith(("%", "!"))]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):
        return text


def starter_lines(lab_id: str, root: Path = COURSE_ROOT) -> set[str]:
    """Every stripped line of the handed-out lab's code cells, in the canonical layout."""
    path = root / "labs" / f"{lab_id}_lab.ipynb"
    if not path.is_file():
        return set()
    return {line.strip() for cell in _code_cells(read_notebook(path)) for line in canonical(cell).split("\n")}


def student_code(nb: Any, starter: set[str]) -> str:
    """The code a student added: the canonical lines of the code cells that are not lines of the starter lab."""
    out = []
    for cell in _code_cells(nb):
        kept = [line for line in canonical(cell).split("\n") if line.strip() and line.strip() not in starter]
        if kept:
            out.append("\n".join(kept))
    return "\n\n".join(out)


def _lab_of(nb: Any, path: Path) -> str | None:
    meta = nb.get("metadata", {}).get("course", {})
    lab = meta.get("lab") if isinstance(meta, dict) else None
    if isinstance(lab, str) and re.fullmatch(r"\d\d_[A-Za-z0-9_]+", lab):
        return lab
    m = _LAB_FILE.match(path.stem)
    return m.group("lab") if m else None


def load_submissions(folder: str | os.PathLike[str], lab: str | None = None,
                     root: Path = COURSE_ROOT) -> tuple[list[Submission], list[str]]:
    """The notebooks under ``folder`` (names: the path relative to it, without ``.ipynb``), and problems."""
    folder = Path(folder)
    subs, problems = [], []
    starters: dict[str, set[str]] = {}
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)[:_MAX_FILES]
    for p in paths:
        name = str(p.relative_to(folder).with_suffix(""))
        try:
            nb = read_notebook(p)
        except NotebookError as exc:
            problems.append(f"{clean_text(name, 200, numbers=False)}: skipped ({clean_text(exc, 200, numbers=False)})")
            continue
        lab_id = lab.removesuffix("_lab") if lab else _lab_of(nb, p)
        if lab_id is None:
            problems.append(f"{clean_text(name, 200, numbers=False)}: skipped (no course.lab metadata and not named "
                            "NN_topic_lab.ipynb; pass --lab)")
            continue
        if lab and _lab_of(nb, p) not in (None, lab_id):
            problems.append(f"{clean_text(name, 200, numbers=False)}: skipped (a notebook of lab {_lab_of(nb, p)})")
            continue
        if lab_id not in starters:
            starters[lab_id] = starter_lines(lab_id, root)
        subs.append(Submission(name, lab_id, student_code(nb, starters[lab_id])))
    return subs, problems


def references(lab_id: str, root: Path = COURSE_ROOT) -> list[Submission]:
    """The course's own code a student could paste: every ``course_utils`` module and the lab's solution blocks."""
    refs = []
    for p in sorted((root / "course_utils").rglob("*.py")):
        if "__pycache__" in p.parts or "grader" in p.parts or "delivery" in p.parts or "gpu_check" in p.parts:
            continue
        refs.append(Submission(f"course_utils/{p.relative_to(root / 'course_utils')}", lab_id,
                               p.read_text(encoding="utf-8"), "library"))
    sol = root / "solutions" / f"{lab_id}_lab.ipynb"
    if sol.is_file():
        refs.append(Submission(f"solutions/{sol.name}", lab_id, student_code(read_notebook(sol), starter_lines(lab_id, root)),
                               "solution"))
    return refs


def _fingerprint(code: str, name: str, boilerplate: np.ndarray) -> Any:
    from copydetect import CodeFingerprint
    return CodeFingerprint(name + ".py", NOISE_K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code),
                           language="python")


def _score(fa: Any, fb: Any) -> tuple[float, Any, Any]:
    from copydetect import compare_files
    if not fa.hashes or not fb.hashes:
        return 0.0, np.zeros((2, 0), int), np.zeros((2, 0), int)
    _, (s1, s2), (sl1, sl2) = compare_files(fa, fb)
    return float(min(1.0, max(s1, s2))), sl1, sl2


def _common_hashes(prints: list[Any], fraction: float) -> np.ndarray:
    """Fingerprints found in more than ``fraction`` of the documents (at least 3 of them), as MOSS's ``-m``."""
    from collections import Counter
    if len(prints) < 4:
        return np.array([], dtype=np.int64)
    counts = Counter(h for fp in prints for h in fp.hashes)
    limit = max(3, fraction * len(prints))
    return np.array(sorted(h for h, n in counts.items() if n > limit), dtype=np.int64)


def compare_all(subs: list[Submission], *, with_course: bool = True, root: Path = COURSE_ROOT,
                common_fraction: float = COMMON_FRACTION) -> list[Pair]:
    """Every pair of students of the same lab, and every student against the course's code, highest first.

    Fingerprints that more than ``common_fraction`` of a lab's submissions share (with at least 4 submissions)
    are ignored like the starter code: the one obvious way to write a short answer is not copying."""
    from copydetect import CodeFingerprint
    pairs: list[Pair] = []
    for lab_id in sorted({s.lab for s in subs}):
        group = [s for s in subs if s.lab == lab_id]
        starter = root / "labs" / f"{lab_id}_lab.ipynb"
        boiler = np.array([], dtype=np.int64)
        if starter.is_file():
            code = "\n\n".join(canonical(c) for c in _code_cells(read_notebook(starter)))
            boiler = np.array(sorted(CodeFingerprint("starter.py", NOISE_K, WINDOW, fp=io.StringIO(code),
                                                     language="python").hashes), dtype=np.int64)
        prints = [_fingerprint(s.code, s.name, boiler) for s in group]
        common = _common_hashes(prints, common_fraction)
        if common.size:                      # code most students share (a one-line formula) is no evidence: drop it
            boiler = np.union1d(boiler, common)
            prints = [_fingerprint(s.code, s.name, boiler) for s in group]
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                score, sa, sb = _score(prints[i], prints[j])
                pairs.append(Pair(group[i].name, group[j].name, lab_id, score, sa, sb, group[i].code, group[j].code))
        if with_course:
            for ref in references(lab_id, root):
                fr = _fingerprint(ref.code, ref.name, boiler)
                for s, fs in zip(group, prints):
                    score, sa, sb = _score(fs, fr)
                    if score > 0 or ref.kind == "solution":
                        pairs.append(Pair(s.name, ref.name, lab_id, score, sa, sb, s.code, ref.code))
    pairs.sort(key=lambda p: (-p.score, p.lab, p.a, p.b))
    return pairs


def _cell(text: str) -> str:
    """A CSV cell no spreadsheet evaluates (as the gradebook's exports)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(pairs: list[Pair], path: str | os.PathLike[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "lab", "score"])
        for p in pairs:
            w.writerow([_cell(p.a), _cell(p.b), p.lab, f"{p.score:.4f}"])


def _marked(code: str, slices: Any) -> str:
    """``code`` HTML-escaped, with the matching regions in ``<mark>``."""
    if slices is None or np.size(slices) == 0:
        return html.escape(code)
    out, pos = [], 0
    for start, end in sorted(zip(np.asarray(slices[0]).tolist(), np.asarray(slices[1]).tolist())):
        start, end = max(start, pos), min(end, len(code))
        if end <= start:
            continue
        out += [html.escape(code[pos:start]), "<mark>", html.escape(code[start:end]), "</mark>"]
        pos = end
    out.append(html.escape(code[pos:]))
    return "".join(out)


def write_html(pairs: list[Pair], path: str | os.PathLike[str], *, threshold: float = DEFAULT_THRESHOLD,
               problems: list[str] = (), min_views: int = 10) -> None:
    e = html.escape
    rows = "".join(f"<tr{' class=flag' if p.score >= threshold else ''}><td>{i}</td><td>{e(p.a)}</td><td>{e(p.b)}</td>"
                   f"<td>{e(p.lab)}</td><td>{p.score:.3f}</td><td>{'<a href=#pair' + str(i) + '>view</a>' if i <= max(min_views, sum(q.score >= threshold for q in pairs)) else ''}</td></tr>"
                   for i, p in enumerate(pairs, 1))
    views = []
    for i, p in enumerate(pairs, 1):
        if i > min_views and p.score < threshold:
            break
        views.append(f"<h3 id=pair{i}>{i}. {e(p.a)} &harr; {e(p.b)} ({e(p.lab)}): {p.score:.3f}</h3>"
                     f"<div class=side><pre>{_marked(p.code_a, p.slices_a)}</pre><pre>{_marked(p.code_b, p.slices_b)}</pre></div>")
    notes = "".join(f"<li>{e(x)}</li>" for x in problems)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Copying report</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}
tr.flag td{{background:#fde2e1}}.side{{display:flex;gap:1em}}.side pre{{flex:1;overflow:auto;background:#f6f8fa;padding:.5em;max-height:40em}}
mark{{background:#ffd33d}}</style></head><body>
<h1>Copying report</h1>
<p>Score: the share of a file's normalised code (names, strings, comments and layout removed; the lab's starter code
removed) that is found in the other file, the larger of the two; 1 = identical after normalisation. Rows at or above
{threshold:g} are highlighted. Pairs with <code>course_utils/</code> or <code>solutions/</code> compare a student
with the course's own code.</p>
{f'<ul>{notes}</ul>' if notes else ''}
<table><tr><th>#</th><th>a</th><th>b</th><th>lab</th><th>score</th><th></th></tr>{rows}</table>
{''.join(views)}
</body></html>"""
    Path(path).write_text(page, encoding="utf-8")


def calibrate(pairs_of_codes: list[tuple[str, str]]) -> list[float]:
    """Scores of pairs of independently written correct implementations (the threshold must sit above them)."""
    none = np.array([], dtype=np.int64)
    return [_score(_fingerprint(a, "a", none), _fingerprint(b, "b", none))[0] for a, b in pairs_of_codes]
