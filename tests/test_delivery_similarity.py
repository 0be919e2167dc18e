"""The copying report: copies rank first, blank labs and shared one-liners do not."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.delivery.similarity import (DEFAULT_THRESHOLD, calibrate, compare_all, load_submissions,
                                              write_csv, write_html)

ROOT = Path(__file__).resolve().parents[1]
LAB = "08_monitoring"

# two independent correct answers (written apart, as two students would) and a copy of the first one
ALICE = '''
def clip_by_global_norm(grads, max_norm):
    # the global norm over every array
    total = 0.0
    for g in grads:
        total += float(np.sum(np.asarray(g, dtype=float) ** 2))
    norm = float(np.sqrt(total))
    scale = min(1.0, max_norm / (norm + 1e-6))
    return [np.asarray(g, dtype=float) * scale for g in grads], norm

def pad_sequences(seqs, pad_value=0.0):
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    T = int(lengths.max())
    padded = np.full((len(seqs), T, seqs[0].shape[1]), pad_value, dtype=float)
    mask = np.zeros((len(seqs), T), dtype=bool)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
        mask[i, :len(s)] = True
    return padded, lengths, mask

def last_valid_state(h, lengths):
    return h[np.arange(h.shape[0]), np.asarray(lengths) - 1]
'''
BOB_COPY = '''
def clip_by_global_norm(gs, limit):
    acc = 0.0
    for item in gs: acc += float(np.sum(np.asarray(item, dtype=float)**2))
    n = float(np.sqrt(acc))
    factor = min(1.0, limit/(n+1e-6))
    return [np.asarray(item, dtype=float)*factor for item in gs], n
def last_valid_state(states, lens):
    return states[np.arange(states.shape[0]), np.asarray(lens)-1]
def pad_sequences(batch, fill=0.0):
    lens = np.array([len(b) for b in batch], dtype=np.int64)
    steps = int(lens.max())
    out = np.full((len(batch), steps, batch[0].shape[1]), fill, dtype=float)
    valid = np.zeros((len(batch), steps), dtype=bool)
    for k, b in enumerate(batch):
        out[k, :len(b)] = b
        valid[k, :len(b)] = True
    return out, lens, valid
'''
CAROL = '''
def clip_by_global_norm(grads, max_norm):
    norm = np.linalg.norm(np.concatenate([np.ravel(g) for g in grads]))
    if norm > max_norm:
        grads = [g * (max_norm / norm) for g in grads]
    return list(grads), float(norm)

def pad_sequences(seqs, pad_value=0.0):
    L = [s.shape[0] for s in seqs]
    out = []
    for s in seqs:
        extra = max(L) - s.shape[0]
        out.append(np.concatenate([s, np.full((extra, s.shape[1]), pad_value)]))
    m = np.arange(max(L))[None, :] < np.array(L)[:, None]
    return np.stack(out), np.array(L), m

def last_valid_state(h, lengths):
    return h[np.arange(h.shape[0]), np.asarray(lengths) - 1]
'''


def _lab_with(answer: str | None) -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "labs" / f"{LAB}_lab.ipynb", as_version=4)
    if answer is not None:
        nb.cells.append(nbformat.v4.new_code_cell(answer))
    return nb


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("subs")
    for name, answer in {"alice": ALICE, "bob": BOB_COPY, "carol": CAROL, "dan": None, "erin": None}.items():
        nbformat.write(_lab_with(answer), str(folder / f"{name}.ipynb"))
    (folder / "broken.ipynb").write_text("{nope")
    subs, problems = load_submissions(folder, LAB)
    pairs = compare_all(subs)
    return folder, subs, problems, pairs


def test_copy_with_renaming_reformatting_and_reordering_ranks_first(report):
    _, _, problems, pairs = report
    students = [p for p in pairs if "/" not in p.b]
    assert {students[0].a, students[0].b} == {"alice", "bob"}
    assert students[0].score >= 0.8
    assert any("broken" in p and "skipped" in p for p in problems)


def test_blank_labs_and_independent_answers_stay_low(report):
    _, _, _, pairs = report
    score = {frozenset((p.a, p.b)): p.score for p in pairs}
    assert score[frozenset(("dan", "erin"))] <= 0.05                   # two untouched labs
    assert score[frozenset(("alice", "carol"))] < DEFAULT_THRESHOLD       # independent, sharing one one-line formula
    assert score[frozenset(("bob", "carol"))] < DEFAULT_THRESHOLD


def test_a_one_line_formula_everyone_writes_does_not_flag_everyone(tmp_path):
    """Six students whose only common code is the same one-line answer: no pair reaches the threshold."""
    line = "def last_valid_state(h, lengths):\n    return h[np.arange(h.shape[0]), np.asarray(lengths) - 1]\n"
    own = [f"def helper_{i}(a):\n" + "".join(f"    a = a * {i + j} + {j} - a ** {j % 3}\n" for j in range(i + 2)) +
           "    return a\n" for i in range(6)]
    folder = tmp_path / "s"
    folder.mkdir()
    for i in range(6):
        nbformat.write(_lab_with(line + own[i]), str(folder / f"s{i}.ipynb"))
    subs, _ = load_submissions(folder, LAB)
    pairs = compare_all(subs, with_course=False)
    assert max(p.score for p in pairs) < DEFAULT_THRESHOLD
    assert calibrate([(line, line)]) == [1.0]       # alone, the same line is of course identical


def test_csv_and_html(report, tmp_path):
    _, _, problems, pairs = report
    write_csv(pairs, tmp_path / "r.csv")
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert list(rows[0]) == ["a", "b", "lab", "score"]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    write_html(pairs, tmp_path / "r.html", problems=problems)
    page = (tmp_path / "r.html").read_text()
    assert "<mark>" in page and "alice" in page
    assert "<script" not in page.lower()


def test_html_escapes_student_text(tmp_path):
    evil = ALICE + "\ndef x():\n    return '<script>alert(1)</script>'\n"
    folder = tmp_path / "s"
    folder.mkdir()
    for name in ("a", "b"):
        nbformat.write(_lab_with(evil), str(folder / f"{name}.ipynb"))
    subs, _ = load_submissions(folder, LAB)
    pairs = compare_all(subs, with_course=False)
    assert pairs[0].score == pytest.approx(1.0)
    write_html(pairs, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert re.search(r"<mark>[^<]*&lt;script", page) or "&lt;script&gt;" in page
