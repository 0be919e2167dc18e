"""Lab 7 -- image captioning: questions, public checks and hidden tests.

The student writes NumPy functions that take and return plain arrays (no caches, no classes):

* q1 ``word_embedding_forward(x, W) -> out``                     (N, T, D)
* q2 ``word_embedding_backward(dout, x, V) -> dW``               (V, D)
* q3 ``temporal_softmax_loss(x, y, mask) -> (loss, dx)``          <NULL> positions masked out
* q4 ``captioning_loss(features, captions, W_proj, b_proj, W_embed, Wx, Wh, b, W_vocab, b_vocab) -> loss``
* q5 ``greedy_decode(h0, params, max_length, start=1, end=2, null=0) -> captions``   (N, max_length)
* q6 ``beam_search(h0, params, width, max_length, start=1, end=2) -> (words, score)``
* q7 ``corpus_bleu(references, hypotheses, max_n=4) -> float``

The notebook gives ``rnn_step(x, prev_h, Wx, Wh, b)`` and ``decoder_step(words, h, params)``; the grader
binds its own copies of them (and of the earlier answers a later question calls, see
:attr:`~course_utils.grader.spec.Case.provide`), so one bug costs points once.

No function may change its inputs in place (``x -= x.max(...)`` inside the softmax is the classic): every
hidden case sends its array, dict and list arguments back after the call (``Case.returns_kwargs``) and
:func:`_judge` compares them with the grader's own copy of what was sent. A wrong answer that matches a
known nearly-right variant (``MISTAKES``, computed here from the case's inputs -- e.g. the brevity penalty
from the *shortest* reference instead of the closest) gets a hint at the likely cause; hints never show
inputs or expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ... import bleu, rnn
from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close
from ._common import EARLIER_NOTE, changed_inputs as _changed_inputs, named_compare, same_as_sent as _same

LAB_ID = "07_image_captioning"

#: Reference code in the students' interface, run inside the sandbox (``Case.provide``) and here.
SOURCES: dict[str, str] = {
    "rnn_step": '''
import numpy as np

def rnn_step(x, prev_h, Wx, Wh, b):
    return np.tanh(x @ Wx + prev_h @ Wh + b)
''',
    "decoder_step": '''
import numpy as np

def decoder_step(words, h, params):
    x = params["W_embed"][words]
    h = np.tanh(x @ params["Wx"] + h @ params["Wh"] + params["b"])
    scores = h @ params["W_vocab"] + params["b_vocab"]
    shifted = scores - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True)), h
''',
    "word_embedding_forward": '''
import numpy as np

def word_embedding_forward(x, W):
    return W[x]
''',
    "temporal_softmax_loss": '''
import numpy as np

def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat = x.reshape(N * T, V)
    shifted = flat - flat.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    yf, mf = y.reshape(N * T), mask.reshape(N * T)
    loss = -np.sum(mf * log_probs[np.arange(N * T), yf]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N * T), yf] -= 1
    dx *= mf[:, None] / N
    return float(loss), dx.reshape(N, T, V)
''',
}


def _load(name: str):
    ns: dict[str, Any] = {}
    exec(compile(SOURCES[name], f"<lab07 reference {name}>", "exec"), ns)
    return ns[name]


decoder_step = _load("decoder_step")
rnn_step = _load("rnn_step")


def _provide(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, SOURCES[n]) for n in names)


# ---------------------------------------------------------------- inputs left unchanged, hints for known mistakes

_INPLACE_FIX = ("the function must leave its inputs unchanged (the caller still needs them): work on a copy "
                "(e.g. x = x.copy()) or build new arrays (x - x.max(...), np.where(...)) instead of -=, *=, "
                "slice assignment or list.append on an argument")


def _returned(value: Any) -> bool:
    """Whether an argument is one a function could change in place: an array, or a dict/list holding one."""
    if isinstance(value, np.ndarray):
        return True
    if isinstance(value, dict):
        return any(map(_returned, value.values()))
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, (list, np.ndarray)) for v in value)
    return False


def _case(func: str, kwargs: dict[str, Any], **extra: Any) -> Case:
    """A hidden case whose changeable arguments come back after the call, to be compared with what was sent."""
    return Case(func, kwargs, returns_kwargs=tuple(k for k, v in kwargs.items() if _returned(v)), **extra)


def _judge(qid: str, base: Callable[[Any, Any, Case], tuple[bool, str]]):
    """``Question.compare`` for lab 7: inputs unchanged, then the value, then a hint if a known mistake matches."""

    def judge(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        changed = _changed_inputs(got, case)
        if changed:
            names = ", ".join(f"`{n}`" for n in changed)
            return False, f"{names} changed in place by the call; {_INPLACE_FIX}"
        value = got[0] if case.returns_kwargs else got
        ok, msg = base(value, expected, case)
        if ok:
            return ok, msg
        hints = []
        for variant, hint in MISTAKES.get(qid, ()):
            try:
                wrong = variant(case)
                if base(wrong, expected, case)[0]:
                    continue                       # on this case the mistake gives the right answer anyway
                if base(value, wrong, case)[0]:
                    hints.append(hint)             # two mistakes can give the same value on one case: name both
            except Exception:  # a variant that cannot run on this case says nothing
                continue
        return False, f"{msg}; hint: {'; or: '.join(hints)}" if hints else msg
    return judge


def _tol(tol: float) -> Callable[[Any, Any, Case], tuple[bool, str]]:
    return lambda got, expected, case: compare_close(got, expected, tol)


# ---------------------------------------------------------------- pairs: no credit for a trivial answer

_CALLS_SOURCE = '''
def grader_calls(func, calls, returns):
    """The student's ``func`` called once per kwargs dict of ``calls``: for each call, the answer and the
    arguments named in ``returns`` as they are after the call."""
    out = []
    for kwargs in calls:
        value = student_namespace[func](**kwargs)
        out.append((value, {name: kwargs[name] for name in returns}))
    return out
'''


def _paired(edge: Case, other: Case) -> Case:
    """One hidden test made of two calls: an edge case whose right answer a trivial one (0, zeros) matches, so it
    would pass alone, and an ordinary case of the same function. It passes only when both answers are right and
    both calls leave their inputs unchanged (as :func:`course_utils.grader.labs._common.paired`, keeping each
    call's ``returns_kwargs`` and ``provide``)."""
    assert edge.func == other.func and edge.returns_kwargs == other.returns_kwargs and edge.provide == other.provide
    return Case("grader_calls", {"func": edge.func, "calls": [edge.kwargs, other.kwargs],
                                 "returns": list(edge.returns_kwargs)},
                label=f"{edge.label} (with {other.label})",
                provide=(("grader_calls", _CALLS_SOURCE), *edge.provide))


def _subcases(case: Case) -> list[Case]:
    """The single calls a :func:`_paired` case is made of (``[case]`` for any other case)."""
    if case.func != "grader_calls":
        return [case]
    k = case.kwargs
    return [Case(k["func"], kw, returns_kwargs=tuple(k["returns"])) for kw in k["calls"]]


def _pair_reference(reference: Callable[[Case], Any]) -> Callable[[Case], Any]:
    """A question's reference that answers a :func:`_paired` case with the list of its calls' answers."""
    def ref(case: Case) -> Any:
        if case.func != "grader_calls":
            return reference(case)
        return [reference(c) for c in _subcases(case)]
    return ref


def _pair_judge(judge: Callable[[Any, Any, Case], tuple[bool, str]]) -> Callable[[Any, Any, Case], tuple[bool, str]]:
    """A question's ``compare`` that judges each call of a :func:`_paired` case with ``judge``; all must pass."""
    def compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        if case.func != "grader_calls":
            return judge(got, expected, case)
        subs = _subcases(case)
        if not isinstance(got, (list, tuple)) or len(got) != len(subs):
            return False, f"expected the answers of {len(subs)} calls, got {type(got).__name__}"
        for i, (g, e, c) in enumerate(zip(got, expected, subs)):
            ok, msg = judge(g, e, c)
            if not ok:
                return False, f"call {i + 1} of {len(subs)}: {msg}"
        return True, "ok"
    return compare


# ---------------------------------------------------------------- references

def _embed_backward(dout: np.ndarray, x: np.ndarray, V: int) -> np.ndarray:
    dW = np.zeros((V, dout.shape[2]))
    np.add.at(dW, x, dout)
    return dW


def _captioning_loss(features, captions, W_proj, b_proj, W_embed, Wx, Wh, b, W_vocab, b_vocab) -> float:
    captions_in, captions_out = captions[:, :-1], captions[:, 1:]
    h = features @ W_proj + b_proj
    x = W_embed[captions_in]
    hs = np.zeros((x.shape[0], x.shape[1], h.shape[1]))
    for t in range(x.shape[1]):
        h = rnn_step(x[:, t], h, Wx, Wh, b)
        hs[:, t] = h
    scores = hs @ W_vocab + b_vocab
    return rnn.temporal_softmax_loss(scores, captions_out, captions_out != 0)[0]


def _greedy(h0, params, max_length, start=1, end=2, null=0) -> np.ndarray:
    N = h0.shape[0]
    out = np.full((N, max_length), null, dtype=np.int64)
    words, h = np.full(N, start, dtype=np.int64), h0
    done = np.zeros(N, dtype=bool)
    for t in range(max_length):
        logp, h = decoder_step(words, h, params)
        words = logp.argmax(axis=1)
        out[:, t] = np.where(done, null, words)
        done |= words == end
        if done.all():
            break
    return out


def _beam(h0, params, width, max_length, start=1, end=2) -> tuple[np.ndarray, float]:
    live_words: list[list[int]] = [[]]
    live_scores = np.zeros(1)
    h = h0[None, :]
    finished: list[tuple[list[int], float]] = []
    for _ in range(max_length):
        last = np.array([w[-1] if w else start for w in live_words])
        logp, h = decoder_step(last, h, params)
        cand = (live_scores[:, None] + logp).ravel()
        V = logp.shape[1]
        rows, new_words, new_scores = [], [], []
        for flat in np.argsort(-cand, kind="stable")[:width]:
            row, word = divmod(int(flat), V)
            if word == end:
                finished.append((live_words[row] + [word], float(cand[flat])))
            else:
                rows.append(row)
                new_words.append(live_words[row] + [word])
                new_scores.append(float(cand[flat]))
        if not rows:
            break
        h = h[rows]
        live_words, live_scores = new_words, np.array(new_scores)
        if finished and max(s for _, s in finished) >= live_scores.max():
            break
    else:
        finished += list(zip(live_words, live_scores.tolist()))
    words, score = max(finished, key=lambda ws: ws[1])
    return np.array(words, dtype=np.int64), score


# ---------------------------------------------------------------- q1: word_embedding_forward

def _q1_public(ns: Mapping[str, Any]) -> None:
    N, T, V, D = 2, 4, 5, 3
    x = np.array([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = np.linspace(0, 1, num=V * D).reshape(V, D)
    got = ns["word_embedding_forward"](x, W)
    if isinstance(got, tuple):
        raise CheckFailed("return out only (an array of shape (N, T, D)), not a tuple")
    expect_close("out", got, W[x], tol=1e-8)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, V, D in [(1, 1, 3, 2), (2, 5, 4, 3), *[tuple(int(v) for v in rng.integers(1, 9, 4)) for _ in range(3)]]:
        cases.append(_case("word_embedding_forward", {"x": rng.integers(0, V, size=(N, T)),
                                                     "W": rng.normal(size=(V, D))}, label=f"N={N}, T={T}, V={V}, D={D}"))
    return cases


def _q1_reference(case: Case) -> np.ndarray:
    return case.kwargs["W"][case.kwargs["x"]]


# ---------------------------------------------------------------- q2: word_embedding_backward

def _q2_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(231)
    N, T, V, D = 4, 5, 6, 3
    x = rng.integers(0, V, size=(N, T))
    x[0, :2] = 4                                   # word 4 used twice in a row
    dout = rng.normal(size=(N, T, D))
    got = ns["word_embedding_backward"](dout, x, V)
    if isinstance(got, tuple):
        raise CheckFailed("return dW only (an array of shape (V, D))")
    expect_close("dW", got, _embed_backward(dout, x, V), tol=1e-8)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, V, D in [(1, 1, 2, 1), (3, 6, 3, 2), *[tuple(int(v) for v in rng.integers(2, 9, 4)) for _ in range(3)]]:
        cases.append(_case("word_embedding_backward", {"dout": rng.normal(size=(N, T, D)),
                                                      "x": rng.integers(0, V, size=(N, T)), "V": V},
                          label=f"N={N}, T={T}, V={V}, D={D} (repeated words)"))
    return cases


def _q2_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    return _embed_backward(k["dout"], k["x"], k["V"])


# ---------------------------------------------------------------- q3: temporal_softmax_loss

def _q3_public(ns: Mapping[str, Any]) -> None:
    f = ns["temporal_softmax_loss"]
    rng = np.random.default_rng(231)

    def check_loss(N, T, V, p):
        x = 0.001 * rng.normal(size=(N, T, V))
        y = rng.integers(V, size=(N, T))
        mask = rng.random((N, T)) <= p
        got = f(x, y, mask)
        if not isinstance(got, tuple) or len(got) != 2:
            raise CheckFailed("return a tuple (loss, dx)")
        return float(got[0])

    for (N, T, V, p), expected in [((100, 1, 10, 1.0), np.log(10)), ((100, 10, 10, 1.0), 10 * np.log(10)),
                                   ((5000, 10, 10, 0.1), np.log(10))]:
        loss = check_loss(N, T, V, p)
        print(f"  N={N}, T={T}, V={V}, mask probability {p}: loss {loss:.2f} (should be about {expected:.1f})")
        if not abs(loss - expected) <= 0.03 * expected:
            raise CheckFailed(f"loss {loss:.3f} is far from {expected:.2f}: sum over time, average over N, skip masked steps")
    N, T, V = 3, 4, 5
    x = rng.normal(size=(N, T, V))
    y = rng.integers(V, size=(N, T))
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    sent = x.copy()
    loss, dx = f(x, y, mask)
    if not np.array_equal(x, sent):
        raise CheckFailed(f"temporal_softmax_loss changed `x` in place; {_INPLACE_FIX}")
    ref_loss, ref_dx = rnn.temporal_softmax_loss(x, y, mask)
    expect_close("loss", loss, ref_loss, tol=1e-8)
    expect_close("dx", dx, ref_dx, tol=1e-8)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, V, p in [(1, 1, 2, 1.0), (4, 6, 7, 0.6), (5, 8, 10, 0.3), (3, 5, 4, 1.0), (2, 7, 9, 0.0)]:
        cases.append(_case("temporal_softmax_loss", {"x": rng.normal(0, 2, size=(N, T, V)),
                                                    "y": rng.integers(V, size=(N, T)),
                                                    "mask": rng.random((N, T)) < p},
                          label=f"N={N}, T={T}, V={V}, {int(p * 100)}% of the steps kept"))
    # no step kept: loss 0 and dx all zeros, which a trivial answer gives; paired with an ordinary call
    cases[-1] = _paired(cases[-1], _q3_partner(rng))
    return cases


def _q3_partner(rng: np.random.Generator) -> Case:
    """An ordinary ``temporal_softmax_loss`` call (N=3, T=4, V=5) that keeps at least one step."""
    while True:
        mask = rng.random((3, 4)) < 0.6
        if mask.any():
            return _case("temporal_softmax_loss", {"x": rng.normal(0, 2, size=(3, 4, 5)),
                                                   "y": rng.integers(5, size=(3, 4)), "mask": mask},
                         label="N=3, T=4, V=5, 60% of the steps kept")


def _q3_reference(case: Case) -> tuple:
    k = case.kwargs
    return rnn.temporal_softmax_loss(k["x"], k["y"], k["mask"])


# ---------------------------------------------------------------- q4: captioning_loss

def _loss_inputs(rng: np.random.Generator, N: int, T: int, D: int, W: int, H: int, V: int) -> dict[str, np.ndarray]:
    captions = rng.integers(3, V, size=(N, T))
    captions[:, 0] = 1
    for n in range(N):
        L = int(rng.integers(1, T - 1)) if T > 2 else 0
        captions[n, L + 1] = 2
        captions[n, L + 2:] = 0
    return {"features": rng.normal(size=(N, D)), "captions": captions,
            "W_proj": rng.normal(0, 1 / np.sqrt(D), (D, H)), "b_proj": rng.normal(0, 0.1, H),
            "W_embed": rng.normal(0, 1, (V, W)), "Wx": rng.normal(0, 1 / np.sqrt(W), (W, H)),
            "Wh": rng.normal(0, 1 / np.sqrt(H), (H, H)), "b": rng.normal(0, 0.1, H),
            "W_vocab": rng.normal(0, 1 / np.sqrt(H), (H, V)), "b_vocab": rng.normal(0, 0.1, V)}


def _q4_public(ns: Mapping[str, Any]) -> None:
    p = _loss_inputs(np.random.default_rng(7), N=3, T=6, D=5, W=4, H=6, V=9)
    got = ns["captioning_loss"](**p)
    if isinstance(got, tuple):
        raise CheckFailed("return the loss only (a float), not a tuple")
    print(f"  loss of 3 captions: {float(got):.4f}")
    expect_close("loss", got, _captioning_loss(**p), tol=1e-8)


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, T, D, W, H, V in [(1, 3, 2, 2, 3, 4), (4, 8, 6, 5, 7, 10), (6, 12, 10, 4, 8, 12), (2, 5, 3, 3, 4, 6)]:
        cases.append(_case("captioning_loss", _loss_inputs(rng, N, T, D, W, H, V),
                          label=f"N={N}, T={T}, V={V} {EARLIER_NOTE.format(earlier='word_embedding_forward and temporal_softmax_loss')}",
                          provide=_provide("rnn_step", "word_embedding_forward", "temporal_softmax_loss")))
    return cases


def _q4_reference(case: Case) -> float:
    return _captioning_loss(**case.kwargs)


# ---------------------------------------------------------------- q5, q6: decoding

def _decoder(rng: np.random.Generator, V: int, W: int, H: int, scale: float = 2.5,
             end_bias: float = 0.0) -> dict[str, np.ndarray]:
    params = {"W_embed": rng.normal(0, 1, (V, W)), "Wx": rng.normal(0, scale / np.sqrt(W), (W, H)),
              "Wh": rng.normal(0, scale / np.sqrt(H), (H, H)), "b": rng.normal(0, 0.5, H),
              "W_vocab": rng.normal(0, scale / np.sqrt(H), (H, V)), "b_vocab": rng.normal(0, 0.5, V)}
    params["b_vocab"][:2] = -30.0         # <NULL> and <START> are never chosen
    params["b_vocab"][2] = end_bias       # <END>: captions end after 1 .. max_length words
    return params


def _q5_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(15)
    params = _decoder(rng, V=7, W=4, H=6)
    h0 = rng.normal(size=(5, 6))
    got = ns["greedy_decode"](h0, params, 8)
    expected = _greedy(h0, params, 8)
    print("  expected captions (word ids):\n" + "\n".join("    " + " ".join(map(str, r)) for r in expected))
    if not isinstance(got, np.ndarray) or got.dtype.kind not in "iu":
        raise CheckFailed("return an integer array (N, max_length) of word ids")
    expect_close("captions", got, expected, tol=0)


def _q5_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for N, V, W, H, L in [(1, 4, 2, 3, 1), (6, 7, 4, 6, 8), (10, 9, 5, 8, 12), (8, 6, 3, 5, 10)]:
        cases.append(_case("greedy_decode", {"h0": rng.normal(size=(N, H)), "params": _decoder(rng, V, W, H),
                                            "max_length": L, "start": 1, "end": 2, "null": 0},
                          label=f"N={N}, V={V}, max_length={L}", provide=_provide("decoder_step")))
    return cases


def _q5_reference(case: Case) -> np.ndarray:
    return _greedy(**case.kwargs)


def _beam_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return False, "expected a tuple (words, score)"
    words = got[0]
    if isinstance(words, (list, tuple)):
        if not all(isinstance(w, (int, np.integer)) for w in words):
            return False, "words: expected integer word ids"
        words = np.array(words, dtype=np.int64)
    if not isinstance(words, np.ndarray) or words.dtype.kind not in "iu" or words.ndim != 1:
        return False, "words: expected a 1-D sequence of integer word ids"
    if words.shape != expected[0].shape or not np.array_equal(words, expected[0]):
        return False, "words: not the best caption the beam should find"
    return compare_close(got[1], expected[1], 1e-6, path="score")


def _q6_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(36)             # width 3 finds a better caption than width 1
    params = _decoder(rng, V=6, W=4, H=5)
    h0 = rng.normal(size=5)
    for width in (1, 3):
        got = ns["beam_search"](h0, params, width, 8)
        expected = _beam(h0, params, width, 8)
        print(f"  width {width}: expected words {[int(w) for w in expected[0]]}, score {expected[1]:.4f}")
        ok, msg = _beam_compare(got, expected, Case("beam_search", {}))
        if not ok:
            raise CheckFailed(f"width {width}: {msg}")
        expect_close(f"score (width {width})", got[1], expected[1], tol=1e-8)


def _q6_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    shapes = [(4, 2, 3, 1, 5), (6, 4, 5, 2, 8)]
    shapes += [(int(rng.integers(5, 10)), 4, int(rng.integers(4, 8)), int(rng.integers(2, 6)), int(rng.integers(6, 14)))
               for _ in range(38)]
    for k, (V, W, H, width, L) in enumerate(shapes):
        scale = 1.5 if k % 2 else 2.5                # flatter and peakier next-word distributions
        end_bias = (0.0, -1.0, -2.0)[k % 3]           # <END> early or late
        cases.append(_case("beam_search", {"h0": rng.normal(size=H), "params": _decoder(rng, V, W, H, scale, end_bias),
                                          "width": width, "max_length": L, "start": 1, "end": 2},
                          label=f"V={V}, width={width}, max_length={L}", provide=_provide("decoder_step")))
    return cases


def _q6_reference(case: Case) -> tuple:
    return _beam(**case.kwargs)


# ---------------------------------------------------------------- q7: corpus_bleu

_PUBLIC_REFS = [["a large seven at the top left".split(), "a big seven in the top left corner".split()],
                ["two digits : a small two on the left and a big five at the right".split(),
                 "a little two on the left and a large five on the right".split()]]
_PUBLIC_HYPS = ["a large seven in the top left".split(), "a small two on the left and a big five".split()]


def _q7_public(ns: Mapping[str, Any]) -> None:
    for n in (1, 2, 4):
        got = ns["corpus_bleu"](_PUBLIC_REFS, _PUBLIC_HYPS, n)
        expected = bleu.corpus_bleu(_PUBLIC_REFS, _PUBLIC_HYPS, n)
        print(f"  BLEU-{n}: expected {expected:.4f}")
        expect_close(f"BLEU-{n}", got, expected, tol=1e-8)


def _corpus(rng: np.random.Generator, n: int, vocab: int) -> tuple[list, list]:
    words = [f"w{i}" for i in range(vocab)]
    refs, hyps = [], []
    for _ in range(n):
        base = [str(w) for w in rng.choice(words, size=int(rng.integers(4, 12)))]
        refs.append([[w if rng.random() > 0.3 else str(rng.choice(words)) for w in base]
                     for _ in range(int(rng.integers(1, 5)))])
        hyps.append([w if rng.random() > 0.25 else str(rng.choice(words)) for w in base[:int(rng.integers(2, len(base) + 1))]])
    return refs, hyps


def _corpus_lengths(rng: np.random.Generator, n: int, vocab: int) -> tuple[list, list]:
    """Sentences whose references differ in length: the shortest, the closest (ties included) and the
    longest reference length all give different brevity penalties."""
    words = [f"w{i}" for i in range(vocab)]
    refs, hyps = [], []
    for i in range(n):
        h = int(rng.integers(6, 11))                                    # hypothesis length
        base = [str(w) for w in rng.choice(words, size=h + 6)]
        lengths = [h - 4, h + 1, h - 1, h + 6] if i % 2 else [h - 4, h + 2, h + 6]   # odd: a tie at distance 1
        refs.append([[w if rng.random() > 0.2 else str(rng.choice(words)) for w in base[:L]] for L in lengths])
        hyps.append([w if rng.random() > 0.15 else str(rng.choice(words)) for w in base[:h]])
    return refs, hyps


def _bleu_variant(ref_length: str = "closest", penalty: str = "exp(1 - r/c)", clip: bool = True,
                  pooled: bool = True):
    """A nearly-right corpus BLEU: ``ref_length`` in closest / shortest / longest / closest, ties to the longer;
    ``penalty`` the brevity penalty's formula; ``clip`` the n-gram clipping; ``pooled`` (False: the mean of
    sentence-level BLEU)."""
    from collections import Counter

    def ref_len(refs: list, h: int) -> int:
        lens = [len(r) for r in refs]
        return {"closest": min(lens, key=lambda L: (abs(L - h), L)),
                "closest, ties to the longer": min(lens, key=lambda L: (abs(L - h), -L)),
                "shortest": min(lens), "longest": max(lens)}[ref_length]

    def score(references: list, hypotheses: list, max_n: int) -> float:
        log_sum = 0.0
        for n in range(1, max_n + 1):
            matches = total = 0
            for refs, hyp in zip(references, hypotheses):
                counts = bleu.ngrams(hyp, n)
                best: Counter = Counter()
                for ref in refs:
                    best |= bleu.ngrams(ref, n)
                matches += sum(min(c, best[g]) if clip else (c if best[g] else 0) for g, c in counts.items())
                total += sum(counts.values())
            if matches == 0 or total == 0:
                return 0.0
            log_sum += np.log(matches / total) / max_n
        c = sum(len(h) for h in hypotheses)
        r = sum(ref_len(refs, len(h)) for refs, h in zip(references, hypotheses))
        if penalty == "none":
            bp = 1.0
        elif penalty == "exp(1 - c/r)":
            bp = 1.0 if c > r else float(np.exp(1 - c / r))
        else:
            bp = 1.0 if c > r else float(np.exp(1 - r / c))
        return float(bp * np.exp(log_sum))

    def variant(case: Case) -> float:
        k = case.kwargs
        if pooled:
            return score(k["references"], k["hypotheses"], k["max_n"])
        return float(np.mean([score([r], [h], k["max_n"]) for r, h in zip(k["references"], k["hypotheses"])]))
    return variant


def _q7_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n, vocab, max_n in [(1, 5, 1), (20, 6, 2), (30, 8, 4), (40, 10, 4), (15, 6, 3)]:
        refs, hyps = _corpus(rng, n, vocab)
        cases.append(_case("corpus_bleu", {"references": refs, "hypotheses": hyps, "max_n": max_n},
                          label=f"{n} hypotheses, BLEU-{max_n}"))
    short_refs = [["a b c d e".split()], ["f g h i".split()]]
    cases.append(_case("corpus_bleu", {"references": short_refs, "hypotheses": ["a b c".split(), "f g h i".split()],
                                      "max_n": 4}, label="hypotheses shorter than the references"))
    short = _case("corpus_bleu", {"references": [["a b c".split()], ["d e".split()]],
                                 "hypotheses": ["a b".split(), ["d"]], "max_n": 3},
                  label="every hypothesis shorter than n words")
    cases.append(_paired(short, _q7_partner(rng)))    # BLEU 0 there, as a constant 0: paired with an ordinary call
    for n, vocab, max_n in [(12, 8, 4), (25, 10, 2), (18, 6, 4)]:
        refs, hyps = _corpus_lengths(rng, n, vocab)
        cases.append(_case("corpus_bleu", {"references": refs, "hypotheses": hyps, "max_n": max_n},
                           label=f"{n} hypotheses with references of different lengths, BLEU-{max_n}"))
    return cases


def _q7_partner(rng: np.random.Generator) -> Case:
    """An ordinary ``corpus_bleu`` call (10 hypotheses, BLEU-3) whose score is not 0."""
    while True:
        refs, hyps = _corpus(rng, 10, 6)
        case = _case("corpus_bleu", {"references": refs, "hypotheses": hyps, "max_n": 3},
                     label="10 hypotheses, BLEU-3")
        if _q7_reference(case) > 0:
            return case


def _q7_reference(case: Case) -> float:
    k = case.kwargs
    return bleu.corpus_bleu(k["references"], k["hypotheses"], k["max_n"])


# ---------------------------------------------------------------- known mistakes: what they return, and the hint

def _embed_backward_variant(kind: str):
    def variant(case: Case) -> np.ndarray:
        k = case.kwargs
        dout, x, V = np.asarray(k["dout"], dtype=float), np.asarray(k["x"]), int(k["V"])
        dW = np.zeros((V, dout.shape[2]))
        if kind == "assign":
            dW[x] += dout                      # buffered: a repeated word keeps one of its gradients
            return dW
        counts = np.bincount(x.ravel(), minlength=V)
        np.add.at(dW, x, dout)
        return dW / np.maximum(counts, 1)[:, None]
    return variant


def _softmax_loss_variant(divide: str = "N", mask_loss: bool = True, mask_dx: bool = True):
    def variant(case: Case) -> tuple[float, np.ndarray]:
        k = case.kwargs
        x, y, mask = np.asarray(k["x"], dtype=float), np.asarray(k["y"]), np.asarray(k["mask"], dtype=bool)
        N, T, V = x.shape
        flat = x.reshape(N * T, V)
        shifted = flat - flat.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        yf, mf = y.reshape(N * T), mask.reshape(N * T).astype(float)
        d = {"N": N, "N*T": N * T, "counted": max(mf.sum(), 1.0)}[divide]
        loss = -np.sum((mf if mask_loss else 1.0) * logp[np.arange(N * T), yf]) / d
        dx = np.exp(logp)
        dx[np.arange(N * T), yf] -= 1
        dx *= (mf[:, None] if mask_dx else 1.0) / d
        return float(loss), dx.reshape(N, T, V)
    return variant


def _captioning_loss_variant(kind: str):
    def variant(case: Case) -> float:
        k = dict(case.kwargs)
        if kind == "no image":
            k["b_proj"] = np.zeros_like(k["b_proj"])
            k["features"] = np.zeros_like(k["features"])
            return _captioning_loss(**k)
        captions = k.pop("captions")
        h = k["features"] @ k["W_proj"] + k["b_proj"]
        x = k["W_embed"][captions[:, :-1]]
        hs = np.zeros((x.shape[0], x.shape[1], h.shape[1]))
        for t in range(x.shape[1]):
            h = rnn_step(x[:, t], h, k["Wx"], k["Wh"], k["b"])
            hs[:, t] = h
        scores = hs @ k["W_vocab"] + k["b_vocab"]
        return rnn.temporal_softmax_loss(scores, captions[:, 1:], np.ones(captions[:, 1:].shape, dtype=bool))[0]
    return variant


#: Per question: (what a known mistake returns for a case, the hint shown when the answer matches it).
MISTAKES: dict[str, tuple[tuple[Any, str], ...]] = {
    "q2": (
        (_embed_backward_variant("assign"),
         "your dW matches dW[x] += dout, which keeps only one gradient of a word used more than once in the "
         "batch (buffered fancy-index assignment); np.add.at(dW, x, dout) adds every one"),
        (_embed_backward_variant("mean"),
         "your dW matches the average of each word's gradients; the gradient of a word used k times is the sum "
         "of its k gradients"),
    ),
    "q3": (
        (_softmax_loss_variant(divide="N*T"),
         "your output matches dividing by N*T (the mean over every step); sum over time steps and divide by N"),
        (_softmax_loss_variant(divide="counted"),
         "your output matches dividing by the number of counted steps; sum over time steps and divide by N"),
        (_softmax_loss_variant(mask_loss=False, mask_dx=False),
         "your output matches a loss that ignores the mask: the <NULL> positions (mask False) must add nothing "
         "to the loss and get zero gradient"),
        (_softmax_loss_variant(mask_dx=False),
         "your loss is masked but dx is not: the gradient at a masked position must be zero"),
    ),
    "q4": (
        (_captioning_loss_variant("no image"),
         "your loss matches a model whose initial state ignores the image; h0 = features @ W_proj + b_proj"),
        (_captioning_loss_variant("unmasked"),
         "your loss matches one that counts the <NULL> padding; mask out the positions whose target is <NULL> "
         "(captions_out != 0)"),
    ),
    "q7": (
        (_bleu_variant(ref_length="shortest"),
         "your BLEU matches a brevity penalty computed from the shortest reference of each sentence; r adds up, "
         "for each sentence, the reference length closest to its hypothesis length"),
        (_bleu_variant(ref_length="longest"),
         "your BLEU matches a brevity penalty computed from the longest reference of each sentence; r adds up, "
         "for each sentence, the reference length closest to its hypothesis length"),
        (_bleu_variant(ref_length="closest, ties to the longer"),
         "your BLEU matches the closest reference length with ties broken towards the longer reference; "
         "on a tie take the shorter one"),
        (_bleu_variant(penalty="exp(1 - c/r)"),
         "your BLEU matches a brevity penalty exp(1 - c/r); it is exp(1 - r/c) (r: reference length, c: "
         "hypothesis length)"),
        (_bleu_variant(penalty="none"),
         "your BLEU matches one without the brevity penalty; multiply by BP when the hypotheses are shorter "
         "in total than the references"),
        (_bleu_variant(clip=False),
         "your BLEU matches unclipped n-gram counts; an n-gram counts at most as often as it occurs in one "
         "reference"),
        (_bleu_variant(pooled=False),
         "your BLEU matches the mean of sentence-level scores; corpus BLEU pools the n-gram counts and lengths "
         "over all sentences first"),
    ),
}


LAB = LabSpec(
    lab_id=LAB_ID,
    title="Image captioning",
    questions=(
        Question("q1", "word_embedding_forward: look up word vectors", 1, ("word_embedding_forward",),
                 _q1_public, _q1_cases, _q1_reference, compare=_judge("q1", _tol(1e-8))),
        Question("q2", "word_embedding_backward: gradient of the embedding matrix", 2, ("word_embedding_backward",),
                 _q2_public, _q2_cases, _q2_reference, compare=_judge("q2", _tol(1e-8))),
        Question("q3", "temporal_softmax_loss: softmax loss over time with a <NULL> mask", 2, ("temporal_softmax_loss",),
                 _q3_public, _q3_cases, _pair_reference(_q3_reference),
                 compare=_pair_judge(_judge("q3", named_compare(("loss", "dx"), 1e-7)))),
        Question("q4", "captioning_loss: the captioning model's teacher-forced loss", 2, ("captioning_loss",),
                 _q4_public, _q4_cases, _q4_reference, compare=_judge("q4", _tol(1e-7))),
        Question("q5", "greedy_decode: the most probable word until <END>", 2, ("greedy_decode",),
                 _q5_public, _q5_cases, _q5_reference, compare=_judge("q5", _tol(0.0))),
        Question("q6", "beam_search: the best caption a beam of width k finds", 3, ("beam_search",),
                 _q6_public, _q6_cases, _q6_reference, compare=_judge("q6", _beam_compare)),
        Question("q7", "corpus_bleu: BLEU-1..4 of a corpus", 2, ("corpus_bleu",),
                 _q7_public, _q7_cases, _pair_reference(_q7_reference),
                 compare=_pair_judge(_judge("q7", _tol(1e-8)))),
    ),
)
