"""Lab 8, part 2 -- the char-rnn practice: questions, checks, hidden tests.

The student writes, in NumPy (and the standard library),

* q1 ``weighted_pick(weights, u) -> int``: the slides' sampler, a draw from unnormalised weights by
  searching the cumulative sum for ``u * total``
* q2 ``learning_rates(base_lr, decay_rate, steps_per_epoch, n_steps) -> (n_steps,)``: per-epoch decay
* q3 ``vocab_by_frequency(text) -> (chars, ids)``: the vocabulary sorted by count (ties by character)
  and the text encoded with it
* q4 ``save_checkpoint(directory, params, moments, progress)`` / ``load_checkpoint(directory)``: a
  round trip through safe files (``.npz`` without pickle + JSON) that restores everything exactly,
  dtypes included. Graded in two processes (``Question.then``), so the notebook's own
  ``checkpoint_roundtrip`` helper plays no part: a probe (:data:`CHECKPOINT_PROBE`) saves 2-3 decoy
  states and, between two of them (at a place the grader draws), the state itself, each into a fresh
  folder, and returns the files written for the state. The grader reads them -- as ``.npz``/``.npy``
  without pickle or as text, in a limited child process -- and requires every saved array in them; then
  a *fresh* sandbox process, which never saw the save, writes those files into a new folder and calls
  ``load_checkpoint`` there (:data:`LOAD_PROBE`). A loader that remembers instead of reading gets nothing.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..limited import LimitExceeded, run_limited
from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close
from ._common import judge_pairs, paired

LAB_ID = "08_char_rnn_practice"


# ---------------------------------------------------------------- references

def _pick(weights, u) -> int:
    c = np.cumsum(np.asarray(weights, dtype=np.float64))
    return int(min(np.searchsorted(c, u * c[-1], side="right"), c.size - 1))


def _lrs(base_lr, decay_rate, steps_per_epoch, n_steps) -> np.ndarray:
    return base_lr * decay_rate ** (np.arange(n_steps) // steps_per_epoch)


def _vocab(text: str) -> tuple[list[str], np.ndarray]:
    counts = Counter(text)
    chars = sorted(counts, key=lambda ch: (-counts[ch], ch))
    index = {ch: i for i, ch in enumerate(chars)}
    return chars, np.array([index[ch] for ch in text], dtype=np.int64)


# ---------------------------------------------------------------- q1: weighted_pick

def _q1_public(ns: Mapping[str, Any]) -> None:
    w = np.array([1.0, 0.0, 3.0, 4.0])          # cumulative sums 1, 1, 4, 8: slices of [0, 8)
    expected = {0.0: 0, 0.1: 0, 0.125: 2, 0.3: 2, 0.5: 3, 0.99: 3}
    for u, want in expected.items():
        got = ns["weighted_pick"](w.copy(), u)
        if not isinstance(got, (int, np.integer)):
            raise CheckFailed(f"weighted_pick must return an int index, got {type(got).__name__}")
        if int(got) != want:
            raise CheckFailed(f"weighted_pick([1, 0, 3, 4], u={u}) should be {want} (u * total = {u * 8:g} falls in "
                              f"the slice of index {want}), got {int(got)}")
        print(f"  u = {u:<5}: index {int(got)} ok")
    rng = np.random.default_rng(0)
    freq = np.bincount([int(ns["weighted_pick"](w, rng.random())) for _ in range(4000)], minlength=4) / 4000
    expect_close("frequencies of 4000 draws vs weights / total", freq, w / w.sum(), tol=0.05)


def _partner(rng: np.random.Generator, not_index: int) -> Case:
    """An ordinary draw whose answer differs from ``not_index``: paired with an edge case, no constant passes both."""
    while True:
        V = int(rng.integers(3, 40))
        p = rng.gamma(0.5, size=V) + 0.05
        case = Case("weighted_pick", {"weights": p, "u": float(rng.random())}, label="random weights")
        if _pick(p, case.kwargs["u"]) != not_index:
            return case


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    w = np.array([0.0, 2.0, 0.0, 0.0, 6.0, 8.0])             # total 16: exact boundaries are representable
    for u in (0.0, 0.125, 0.5, float(rng.uniform(0.5, 1))):
        # each edge answer (1, 4, 5, 5) is one a constant could give: paired with a draw whose answer differs
        edge = Case("weighted_pick", {"weights": w.copy(), "u": u}, label="boundaries between slices and zero weights")
        cases.append(paired(edge, _partner(rng, _pick(w, u))))
    for _ in range(4):
        V = int(rng.integers(2, 70))
        p = rng.gamma(0.3, size=V) * float(rng.uniform(0.5, 50))     # unnormalised, peaky
        case = Case("weighted_pick", {"weights": p, "u": float(rng.random())}, label="random weights")
        cases.append(paired(case, _partner(rng, _pick(p, case.kwargs["u"]))))   # no constant answers both
    probs = rng.dirichlet(np.ones(65))
    case = Case("weighted_pick", {"weights": probs, "u": float(rng.random())}, label="probabilities summing to 1")
    cases.append(paired(case, _partner(rng, _pick(probs, case.kwargs["u"]))))
    cases.append(paired(Case("weighted_pick", {"weights": np.array([5.0]), "u": 0.7}, label="one character"),
                        _partner(rng, 0)))
    return cases


def _q1_reference(case: Case) -> int:
    return _pick(case.kwargs["weights"], case.kwargs["u"])


def _q1_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        return False, "expected an int index"
    return (int(got) == expected), "wrong index"


# ---------------------------------------------------------------- q2: learning_rates

def _q2_public(ns: Mapping[str, Any]) -> None:
    got = ns["learning_rates"](0.002, 0.97, 3, 8)
    expect_close("learning_rates(0.002, 0.97, 3, 8)", got,
                 [0.002, 0.002, 0.002, 0.00194, 0.00194, 0.00194, 0.0018818, 0.0018818], tol=1e-9)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("learning_rates", {"base_lr": 2e-3, "decay_rate": 0.97, "steps_per_epoch": 100, "n_steps": 1000},
                  label="char-rnn's defaults over 10 epochs"),
             Case("learning_rates", {"base_lr": 0.1, "decay_rate": 0.5, "steps_per_epoch": 1, "n_steps": 6},
                  label="one step per epoch"),
             Case("learning_rates", {"base_lr": 1e-3, "decay_rate": 1.0, "steps_per_epoch": 7, "n_steps": 20},
                  label="no decay"),
             Case("learning_rates", {"base_lr": 4e-3, "decay_rate": 0.9, "steps_per_epoch": 50, "n_steps": 30},
                  label="fewer steps than one epoch")]
    cases.append(Case("learning_rates", {"base_lr": float(rng.uniform(1e-4, 1e-2)),
                                         "decay_rate": float(rng.uniform(0.8, 0.99)),
                                         "steps_per_epoch": int(rng.integers(2, 40)),
                                         "n_steps": int(rng.integers(50, 300))}, label="random"))
    return cases


def _q2_reference(case: Case) -> np.ndarray:
    return _lrs(**case.kwargs)


# ---------------------------------------------------------------- q3: vocab_by_frequency

def _q3_public(ns: Mapping[str, Any]) -> None:
    got = ns["vocab_by_frequency"]("hello world")
    if not isinstance(got, tuple) or len(got) != 2:
        raise CheckFailed("return a tuple (chars, ids)")
    chars, ids = got
    want = ["l", "o", " ", "d", "e", "h", "r", "w"]
    if list(chars) != want:
        raise CheckFailed(f"vocabulary of 'hello world': expected {want} (l x3, o x2, then the rest by character), "
                          f"got {list(chars)}")
    print(f"  chars {list(chars)} ok")
    expect_close("ids", ids, [5, 4, 0, 0, 1, 2, 7, 1, 6, 0, 3], tol=0)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    alphabet = list("etaoin shrdlu\n.,;:ETAOIN")
    cases = [Case("vocab_by_frequency", {"text": "zebra yak zebu\nab"}, label="ties appear in non-sorted order"),
             paired(Case("vocab_by_frequency", {"text": "aaaa"}, label="a single character"),
                    Case("vocab_by_frequency", {"text": "".join(rng.choice(list("abcde fgh"), size=40))},
                         label="random text")),
             Case("vocab_by_frequency", {"text": "dcba" * 3 + "d"}, label="all tied but one")]
    p = rng.dirichlet(np.ones(len(alphabet)) * 0.5)
    text = "".join(rng.choice(alphabet, size=int(rng.integers(200, 600)), p=p))
    cases.append(Case("vocab_by_frequency", {"text": text}, label="random text"))
    code = "int main(void) {\n    return 0;\n}\n/* comment */\n" * int(rng.integers(1, 4))
    cases.append(Case("vocab_by_frequency", {"text": code}, label="C code"))
    return cases


def _q3_reference(case: Case) -> tuple:
    return _vocab(case.kwargs["text"])


def _q3_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return False, "expected a tuple (chars, ids)"
    chars, ids = got
    if not isinstance(chars, (list, tuple)) or list(chars) != expected[0]:
        return False, "chars: wrong vocabulary or order"
    return compare_close(ids, expected[1], tol=0.0, path="ids")


# ---------------------------------------------------------------- q4: checkpoint round trip

def _q4_state(rng: np.random.Generator, empty_moments: bool = False) -> dict[str, Any]:
    H, V, E = int(rng.integers(3, 9)), int(rng.integers(4, 12)), int(rng.integers(2, 5))
    params = {"embed.weight": rng.normal(size=(V, E)).astype(np.float32),
              "rnn.weight_hh_l0": rng.normal(size=(4 * H, H)),
              "rnn.bias_ih_l0": rng.normal(size=4 * H).astype(np.float32),
              "head.weight": rng.normal(size=(V, H)),
              "token_counts": rng.integers(0, 10**12, size=V)}
    moments = {} if empty_moments else {f"{k}.{m}": rng.normal(size=v.shape) * 1e-3
                                        for k, v in params.items() if v.dtype.kind == "f" for m in ("exp_avg", "exp_avg_sq")}
    progress = {"step": int(rng.integers(1, 10**6)), "epoch": int(rng.integers(0, 50)),
                "lr": float(2e-3 * 0.97 ** rng.integers(0, 50)), "loss": float(rng.uniform(1, 4)),
                "corpus": str(rng.choice(["shakespeare", "python", "c"]))}
    return {"params": params, "moments": moments, "progress": progress}


CHECKPOINT_PROBE = '''
import os, shutil, tempfile
import numpy as np

def checkpoint_probe(params, moments, progress, decoys, position):
    """Save decoy states into fresh folders and the state itself into another, after ``position`` of the
    decoys. Returns the files written for the state (path inside the folder -> bytes as a uint8 array)."""
    save = student_namespace["save_checkpoint"]
    root = tempfile.mkdtemp()
    try:
        here = None
        for k, decoy in enumerate(decoys):
            if k == position:
                here = tempfile.mkdtemp(dir=root)
                save(here, params, moments, progress)
            save(tempfile.mkdtemp(dir=root), decoy["params"], decoy["moments"], decoy["progress"])
        files = {}
        for folder, _, names in os.walk(here):
            for name in names:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    files[os.path.relpath(path, here)] = np.frombuffer(f.read(), dtype=np.uint8).copy()
        return {"files": files}
    finally:
        shutil.rmtree(root, ignore_errors=True)
'''

LOAD_PROBE = '''
import os, shutil, tempfile

def checkpoint_load_probe(files):
    """Write ``files`` (path inside the folder -> bytes as a uint8 array) into a new folder and load from there."""
    root = tempfile.mkdtemp()
    try:
        folder = os.path.join(root, "checkpoint")
        for name, data in files.items():
            path = os.path.join(folder, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data.tobytes())
        return student_namespace["load_checkpoint"](folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)
'''
_MAX_FILES = 200

_MAX_MEMBERS, _MAX_UNPACKED = 1000, 256 * 2**20


def _read_npy(data: bytes) -> np.ndarray:
    """An ``.npy`` file's array, read without pickle and without trusting its header's size."""
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"an .npy file of format version {version}")
    if dtype.hasobject:
        raise ValueError("an array of Python objects, which only pickle can read")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    rest = data[f.tell():]
    if count < 0 or len(rest) != count * dtype.itemsize:
        raise ValueError("a damaged .npy file")
    return np.frombuffer(rest, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _arrays_in(name: str, data: bytes) -> list[np.ndarray]:
    """The arrays stored in one file (none for text); ``ValueError`` for a file that is neither."""
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        out, unpacked = [], 0
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = z.infolist()
            if len(members) > _MAX_MEMBERS:
                raise ValueError(f"{len(members)} entries")
            for m in members:
                if not m.filename.endswith(".npy"):
                    raise ValueError(f"an archive holding {m.filename!r}, which is not an array")
                with z.open(m) as fh:
                    raw = fh.read(_MAX_UNPACKED - unpacked + 1)
                unpacked += len(raw)
                if unpacked > _MAX_UNPACKED:
                    raise ValueError("an archive that unpacks to more than 256 MB")
                out.append(_read_npy(raw))
        return out
    if data[:6] == b"\x93NUMPY":
        return [_read_npy(data)]
    data.decode("utf-8")                 # JSON or other text: no arrays, but safe to read
    return []


def _check_files(files: dict, expected: tuple) -> list:
    """``[ok, message]``: the files are safe to read and hold every saved array (runs in a limited child)."""
    if not files:
        return [False, "save_checkpoint wrote no files into the folder"]
    found: list[np.ndarray] = []
    for k, name in enumerate(sorted(files)):
        try:
            found += _arrays_in(name, files[name].tobytes())
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, EOFError, OSError, KeyError):
            # the file's name and content are the student's: the message says only which one (by position)
            return [False, f"file {k + 1} of {len(files)} (in name order) is neither text nor arrays readable without "
                           "pickle: store arrays with np.savez and the progress as JSON"]
    for what, arrays in zip(("params", "moments"), expected[:2]):
        for key in sorted(arrays):
            e = arrays[key]
            if not any(a.shape == e.shape and np.array_equal(a, e) for a in found):
                return [False, f"{what}[{key!r}] is not in the files save_checkpoint wrote: the checkpoint must "
                               "hold the arrays themselves (np.savez), and load_checkpoint must read them back"]
    return [True, "ok"]


def _files_of(saved: Any) -> dict[str, np.ndarray] | None:
    """The files of the save stage, if they are what the probe returns and their names are plain relative paths."""
    if not isinstance(saved, dict) or set(saved) != {"files"} or not isinstance(saved["files"], dict):
        return None
    files = saved["files"]
    if len(files) > _MAX_FILES or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 1
            and k and not k.startswith("/") and ".." not in k.split("/") and "\x00" not in k
            for k, v in files.items()):
        return None
    return files


def _q4_then(case: Case, saved: Any) -> Case | None:
    """The load stage, in a fresh sandbox process: the saved files, written into a new folder."""
    files = _files_of(saved)
    if not files:
        return None
    return Case("checkpoint_load_probe", {"files": files}, label=case.label,
                provide=(("checkpoint_load_probe", LOAD_PROBE),))


def _q4_compare(got: Any, expected: Any, case: Case | None) -> tuple[bool, str]:
    if not isinstance(got, tuple) or len(got) != 2:
        return False, "unexpected result"
    saved, loaded = got
    files = _files_of(saved)
    if files is None:
        return False, "unexpected result"
    if not files:
        return False, "save_checkpoint wrote no files into the folder"
    ok, msg = _compare_loaded(loaded, expected)
    if not ok:
        return False, f"after saving, and loading the files in a new folder (in a fresh process): {msg}"
    got = {"files": files}
    try:
        ok, msg = run_limited(_check_files, got["files"], expected, timeout_s=20, memory_bytes=1024**3)
    except (LimitExceeded, RuntimeError):
        return False, "the files save_checkpoint wrote could not be read within the grader's limits"
    return bool(ok), str(msg)


def _probe(ns: Mapping[str, Any], source: str = CHECKPOINT_PROBE, name: str = "checkpoint_probe"):
    own: dict[str, Any] = {"__name__": "grader_provided", "student_namespace": ns}
    exec(compile(source, f"<grader: {name}>", "exec"), own)
    return own[name]


def _q4_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(1)
    state, decoy = _q4_state(rng), _q4_state(rng)
    got = _probe(ns)(**state, decoys=[decoy, _q4_state(rng)], position=1)
    expected = (state["params"], state["moments"], state["progress"])
    loaded = _probe(ns, LOAD_PROBE, "checkpoint_load_probe")(got["files"])
    ok, msg = _compare_loaded(loaded, expected)
    if not ok:
        raise CheckFailed(f"after saving into a folder, and loading its files from a new folder: {msg}")
    ok, msg = _check_files(got["files"], expected)
    if not ok:
        raise CheckFailed(msg)
    print(f"  {len(state['params'])} parameters, {len(state['moments'])} moments and progress "
          f"{sorted(state['progress'])} came back identical, dtypes included, from "
          f"{len(got['files'])} file(s) readable without pickle")


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    probe = (("checkpoint_probe", CHECKPOINT_PROBE),)
    cases = []
    for k in range(4):
        empty = k == 3
        state = _q4_state(rng, empty_moments=empty)
        decoys = [_q4_state(rng) for _ in range(int(rng.integers(2, 4)))]
        kwargs = {**state, "decoys": decoys, "position": int(rng.integers(1, len(decoys)))}
        cases.append(Case("checkpoint_probe", kwargs, provide=probe,
                          label="before the first step (no moments yet)" if empty else "a model with Adam's moments"))
    return cases


def _q4_reference(case: Case) -> tuple:
    k = case.kwargs
    return k["params"], k["moments"], k["progress"]


def _same_arrays(got: Any, expected: dict, what: str) -> tuple[bool, str]:
    if not isinstance(got, dict) or set(got) != set(expected):
        return False, f"{what}: expected a dict with the same names as was saved"
    for name in sorted(expected):
        g, e = got[name], expected[name]
        if not isinstance(g, np.ndarray):
            return False, f"{what}[{name!r}]: expected an array"
        if g.dtype != e.dtype or g.shape != e.shape:
            return False, f"{what}[{name!r}]: dtype or shape changed (saved: {e.dtype}, shape {e.shape})"
        if not np.array_equal(g, e):
            return False, f"{what}[{name!r}]: values changed"
    return True, "ok"


def _compare_loaded(got: Any, expected: Any) -> tuple[bool, str]:
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return False, "expected a tuple (params, moments, progress)"
    for g, e, what in zip(got[:2], expected[:2], ("params", "moments")):
        ok, msg = _same_arrays(g, e, what)
        if not ok:
            return ok, msg
    g, e = got[2], expected[2]
    if not isinstance(g, dict) or set(g) != set(e):
        return False, "progress: expected a dict with the same keys"
    for key in sorted(e):
        if type(g[key]) is not type(e[key]) or g[key] != e[key]:
            return False, f"progress[{key!r}]: value or type changed"
    return True, "identical"


_Q1_PAIRS = judge_pairs(_q1_reference, _q1_compare)
_Q3_PAIRS = judge_pairs(_q3_reference, _q3_compare)

LAB = LabSpec(
    lab_id=LAB_ID,
    title="The char-rnn practice: sampling, learning-rate decay, vocabulary, checkpoints",
    questions=(
        Question("q1", "weighted_pick: sample an index from a cumulative sum", 2, ("weighted_pick",),
                 _q1_public, _q1_cases, _Q1_PAIRS[0], compare=_Q1_PAIRS[1]),
        Question("q2", "learning_rates: per-epoch learning-rate decay", 2, ("learning_rates",),
                 _q2_public, _q2_cases, _q2_reference, tol=1e-12),
        Question("q3", "vocab_by_frequency: the vocabulary by count, and the encoded text", 2, ("vocab_by_frequency",),
                 _q3_public, _q3_cases, _Q3_PAIRS[0], compare=_Q3_PAIRS[1]),
        Question("q4", "save_checkpoint / load_checkpoint: an exact round trip through safe files", 2,
                 ("save_checkpoint", "load_checkpoint"),
                 _q4_public, _q4_cases, _q4_reference, compare=_q4_compare, then=_q4_then),
    ),
)
