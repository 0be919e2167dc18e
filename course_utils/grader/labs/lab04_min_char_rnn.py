"""Lab 4 -- min-char-rnn: questions, public checks and hidden tests.

The student writes the three pieces of the 112-line program (column-vector convention, as the lecture):

* q1 ``loss_fun(inputs, targets, hprev, Wxh, Whh, Why, bh, by)
  -> (loss, dWxh, dWhh, dWhy, dbh, dby, h_last)``                      no clipping
* q2 ``sample(h, seed_ix, n, Wxh, Whh, Why, bh, by, temperature=1.0) -> list of n ids``
  drawing with ``np.random.choice``; judged exactly against the seeded reference, or else by a
  statistical test of the sampled sequence under the model (any correct sampler passes). The models
  are drawn so that *no* constant sequence and no greedy (argmax) sequence passes that test, whatever
  the grading seed; the edge case n = 1 is one call repeated 400 times with fresh seeds, judged by the
  same test on the 400 draws.
* q3 ``adagrad_update(params, grads, mems, learning_rate=0.1, clip=5.0) -> None``  in place:
  clip each gradient entry to [-clip, clip] (unless clip is None), ``mem += g*g``,
  ``param -= lr * g / sqrt(mem + 1e-8)``. Two hidden tests hand it arrays that live in memory the
  grader reads back itself after the call (``Case.shared``): an update that rebinds ``params[k] = ...``
  instead of changing the arrays fails those two, and nothing in the notebook can fake the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...charrnn import minchar
from ...charrnn.clipping import clip_by_value
from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close
from ._common import named_compare

LAB_ID = "04_min_char_rnn"
NAMES = minchar.PARAM_NAMES          # Wxh, Whh, Why, bh, by


def _params(rng: np.random.Generator, V: int, H: int, scale: float = 0.5) -> dict[str, np.ndarray]:
    return {"Wxh": rng.normal(0, scale, (H, V)), "Whh": rng.normal(0, scale, (H, H)),
            "Why": rng.normal(0, scale, (V, H)), "bh": rng.normal(0, 0.1, (H, 1)), "by": rng.normal(0, 0.1, (V, 1))}


# ---------------------------------------------------------------- q1: loss_fun

def _loss_reference(inputs, targets, hprev, Wxh, Whh, Why, bh, by) -> tuple:
    params = {"Wxh": Wxh, "Whh": Whh, "Why": Why, "bh": bh, "by": by}
    loss, g, h = minchar.loss_fun(list(inputs), list(targets), hprev, params, clip=None)
    return (loss, g["dWxh"], g["dWhh"], g["dWhy"], g["dbh"], g["dby"], h)


def _q1_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(4)
    V, H = 5, 4
    p = _params(rng, V, H)
    inputs, targets = [0, 3, 1, 1, 4, 2], [3, 1, 1, 4, 2, 0]
    hprev = rng.normal(0, 0.5, (H, 1))
    got = ns["loss_fun"](inputs, targets, hprev, **p)
    if not isinstance(got, tuple) or len(got) != 7:
        raise CheckFailed("return a tuple of seven values: (loss, dWxh, dWhh, dWhy, dbh, dby, h_last)")
    expected = _loss_reference(inputs, targets, hprev, **p)
    for name, g, e in zip(("loss", "dWxh", "dWhh", "dWhy", "dbh", "dby", "h_last"), got, expected):
        expect_close(name, g, e, tol=1e-8)
    zero = {k: np.zeros_like(v) for k, v in p.items()}
    expect_close("loss of an all-zero model (= 6 ln 5)", ns["loss_fun"](inputs, targets, np.zeros((H, 1)), **zero)[0],
                 6 * np.log(5), tol=1e-10)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    shapes = [(1, 3, 2, "one step"), (4, 1, 1, "one hidden unit"), (25, 10, 16, "the original's chunk length")]
    shapes += [(int(rng.integers(2, 12)), int(rng.integers(2, 9)), int(rng.integers(2, 9)), "random sizes") for _ in range(3)]
    for T, V, H, label in shapes:
        p = _params(rng, V, H, scale=float(rng.choice([0.1, 0.5, 1.0])))
        ids = rng.integers(0, V, T + 1)
        hprev = rng.normal(0, 0.5, (H, 1)) if label != "one step" else np.zeros((H, 1))
        cases.append(Case("loss_fun", {"inputs": [int(i) for i in ids[:-1]], "targets": [int(i) for i in ids[1:]],
                                       "hprev": hprev, **p}, label=f"{label}: T={T}, V={V}, H={H}"))
    V, H = 4, 3
    p = _params(rng, V, H)
    cases.append(Case("loss_fun", {"inputs": [2] * 6, "targets": [2] * 6, "hprev": np.zeros((H, 1)), **p},
                      label="a repeated character"))
    return cases


def _q1_reference(case: Case) -> tuple:
    return _loss_reference(**case.kwargs)


# ---------------------------------------------------------------- q2: sample

def _distribution(h, ix, Wxh, Whh, Why, bh, by, temperature):
    x = np.zeros((Wxh.shape[1], 1))
    x[ix] = 1
    h = np.tanh(Wxh @ x + Whh @ h + bh)
    y = (Why @ h + by).ravel() / temperature
    p = np.exp(y - y.max())
    return h, p / p.sum()


def _sample_reference(h, seed_ix, n, Wxh, Whh, Why, bh, by, temperature=1.0, *, seed: int | None = None) -> list[int]:
    rs = np.random.RandomState(seed)     # the stream np.random.seed(seed); np.random.choice(...) draws from
    ix, out = seed_ix, []
    for _ in range(n):
        h, p = _distribution(h, ix, Wxh, Whh, Why, bh, by, temperature)
        ix = int(rs.choice(len(p), p=p))
        out.append(ix)
    return out


def _sequence_z_score(ids, h, seed_ix, Wxh, Whh, Why, bh, by, temperature=1.0) -> float:
    """How surprising the sequence is under the model: (sum of -ln p - expected) / standard deviation.

    Under correct sampling each step's -ln p[ix] has the mean and variance of the step's distribution,
    so the standardised sum is approximately N(0, 1) (a martingale central limit theorem).
    """
    nll = mean = var = 0.0
    ix = seed_ix
    for nxt in ids:
        h, p = _distribution(h, ix, Wxh, Whh, Why, bh, by, temperature)
        logp = np.log(np.maximum(p, 1e-300))
        if p[nxt] <= 0:
            return float("inf")
        e = -(p * logp).sum()
        nll += -logp[nxt]
        mean += e
        var += (p * logp ** 2).sum() - e ** 2
        ix = nxt
    return float((nll - mean) / np.sqrt(max(var, 1e-12)))


def _as_ids(got: Any, n: int, V: int) -> tuple[list[int] | None, str]:
    if isinstance(got, np.ndarray):
        if got.ndim != 1 or got.size != n:              # before tolist(): a huge array stays an array
            return None, f"expected {n} ids, got an array of another shape"
        got = got.tolist()
    if not isinstance(got, (list, tuple)):
        return None, f"expected a list of {n} integer ids, got {type(got).__name__}"
    if len(got) != n:
        return None, f"expected {n} ids, got another number of ids"
    if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in got):
        return None, "every sampled id must be an integer"
    if any(not 0 <= int(i) < V for i in got):
        return None, f"sampled ids must lie in 0..{V - 1}"
    return [int(i) for i in got], "ok"


Z_LIMIT = 4.5


def _draws_z_score(ids, h, seed_ix, Wxh, Whh, Why, bh, by, temperature=1.0) -> float:
    """As :func:`_sequence_z_score`, for independent first draws (every one from the same distribution)."""
    _, p = _distribution(h, seed_ix, Wxh, Whh, Why, bh, by, temperature)
    logp = np.log(np.maximum(p, 1e-300))
    if any(p[i] <= 0 for i in ids):
        return float("inf")
    e = -(p * logp).sum()
    var = (p * logp ** 2).sum() - e ** 2
    nll = -sum(logp[i] for i in ids)
    return float((nll - len(ids) * e) / np.sqrt(max(len(ids) * var, 1e-12)))


def _model_kwargs(k: dict[str, Any]) -> dict[str, Any]:
    return {key: k[key] for key in ("h", "seed_ix", "Wxh", "Whh", "Why", "bh", "by", "temperature")}


def _greedy(h, seed_ix, n, Wxh, Whh, Why, bh, by, temperature=1.0) -> list[int]:
    ix, out = seed_ix, []
    for _ in range(n):
        h, p = _distribution(h, ix, Wxh, Whh, Why, bh, by, temperature)
        ix = int(np.argmax(p))
        out.append(ix)
    return out


def _q2_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    k = case.kwargs
    tau = k.get("temperature", 1.0)
    if case.func == "sample_first_draws":
        n = len(k["seeds"])
        if not isinstance(got, list) or len(got) != n:
            return False, f"expected {n} answers"
        draws = []
        for one in got:
            ids, msg = _as_ids(one, 1, k["Wxh"].shape[1])
            if ids is None:
                return False, f"sample(..., n=1): {msg}"
            draws += ids
        z = _draws_z_score(draws, **_model_kwargs(k))
        if not abs(z) <= Z_LIMIT:
            return False, (f"over {n} calls with n=1 (fresh seeds), the first characters do not follow the model's "
                           f"distribution at temperature {tau} (|z| > {Z_LIMIT})")
        return True, "distributed as the model says"
    ids, msg = _as_ids(got, k["n"], k["Wxh"].shape[1])
    if ids is None:
        return False, msg
    if ids == expected:
        return True, "same sequence as the reference sampler"
    z = _sequence_z_score(ids, **_model_kwargs(k))
    if not abs(z) <= Z_LIMIT:
        return False, (f"the samples do not follow the model's distribution at temperature {tau} "
                       f"(|z| > {Z_LIMIT}, which happens by chance with probability < 1e-5)")
    return True, "a different sequence, but distributed as the model says"


def _q2_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(42)
    V, H = 6, 5
    p = _params(rng, V, H, scale=1.0)
    h = rng.normal(0, 0.5, (H, 1))
    np.random.seed(0)
    got = ns["sample"](h, 2, 300, **p)
    ids, msg = _as_ids(got, 300, V)
    if ids is None:
        raise CheckFailed(msg)
    print(f"  returned {len(ids)} ids in 0..{V - 1}: ok")
    for tau in (1.0, 0.5, 2.0):
        np.random.seed(1)
        ids, msg = _as_ids(ns["sample"](h, 2, 300, **p, temperature=tau), 300, V)
        if ids is None:
            raise CheckFailed(msg)
        z = _sequence_z_score(ids, h, 2, **p, temperature=tau)
        ok = abs(z) <= Z_LIMIT
        print(f"  temperature {tau}: z = {z:+.1f} for 300 samples under the model (|z| <= {Z_LIMIT} passes): "
              f"{'ok' if ok else 'TOO LARGE'}")
        if not ok:
            raise CheckFailed(f"at temperature {tau} the samples are too {'likely' if z < 0 else 'unlikely'} under "
                              f"the model (z = {z:.1f}): check the softmax, the temperature and that you feed each "
                              "sampled character back in")


FIRST_DRAWS_PROBE = '''
import numpy as np

def sample_first_draws(h, seed_ix, Wxh, Whh, Why, bh, by, temperature, seeds):
    """sample(..., n=1) once per seed, each after np.random.seed(seed); the answers, as returned."""
    out = []
    for s in seeds:
        np.random.seed(s)
        out.append(student_namespace["sample"](h=h.copy(), seed_ix=seed_ix, n=1, Wxh=Wxh, Whh=Whh, Why=Why, bh=bh,
                                               by=by, temperature=temperature))
    return out
'''


def _trivial_pass(k: dict[str, Any], n: int) -> bool:
    """Would a constant sequence, or the greedy (argmax) one, pass the statistical test on this model?"""
    V = k["Wxh"].shape[1]
    if n == 1:
        return any(abs(_draws_z_score([c] * 400, **_model_kwargs(k))) <= Z_LIMIT for c in range(V))
    tries = [[c] * n for c in range(V)] + [_greedy(**{**_model_kwargs(k), "n": n})]
    return any(abs(_sequence_z_score(ids, **_model_kwargs(k))) <= Z_LIMIT for ids in tries)


def _q2_model(rng: np.random.Generator, V: int, H: int, tau: float, n: int) -> dict[str, Any]:
    """A model on which no constant answer (and no greedy one) passes: drawn again until so (the first draw
    almost always is; the grading seed decides nothing about a trivial answer's score)."""
    for _ in range(100):
        k = {"h": rng.normal(0, 0.5, (H, 1)), "seed_ix": int(rng.integers(V)), **_params(rng, V, H, scale=1.0),
             "temperature": tau}
        if not _trivial_pass(k, n):
            return k
    raise RuntimeError("no model on which trivial answers fail")   # never seen; a grader bug if it happens


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for tau, V, H in [(1.0, 8, 10), (0.5, 12, 8), (1.5, 6, 12), (1.0, 20, 16), (0.8, 3, 4)]:
        k = _q2_model(rng, V, H, tau, 300)
        cases.append(Case("sample", {**k, "n": 300}, seed=int(rng.integers(1 << 31)),
                          label=f"300 samples, V={V}, temperature {tau}"))
    k = _q2_model(rng, 5, 4, 1.0, 1)
    seeds = [int(s) for s in rng.integers(1 << 31, size=400)]
    cases.append(Case("sample_first_draws", {**k, "seeds": seeds}, label="n = 1 (400 calls, fresh seeds)",
                      provide=(("sample_first_draws", FIRST_DRAWS_PROBE),)))
    return cases


def _q2_reference(case: Case) -> list[int] | None:
    if case.func == "sample_first_draws":
        return None                      # judged by the statistical test only
    return _sample_reference(**case.kwargs, seed=case.seed)


# ---------------------------------------------------------------- q3: adagrad_update

def _adagrad_reference(params, grads, mems, learning_rate=0.1, clip=5.0) -> tuple:
    params = {k: v.copy() for k, v in params.items()}
    mems = {k: v.copy() for k, v in mems.items()}
    g = {"d" + k: np.array(v, dtype=np.float64) for k, v in grads.items()}
    if clip is not None:
        clip_by_value(g, clip)
    minchar.adagrad_update(params, g, mems, learning_rate=learning_rate)
    return None, {"params": params, "mems": mems}


def _q3_public(ns: Mapping[str, Any]) -> None:
    rng = np.random.default_rng(7)
    p = _params(rng, 4, 3)
    grads = {k: rng.normal(0, 3, v.shape) for k, v in p.items()}
    mems = {k: rng.uniform(0, 2, v.shape) for k, v in p.items()}
    _, expected = _adagrad_reference(p, grads, mems, 0.1, 5.0)
    pc, mc = {k: v.copy() for k, v in p.items()}, {k: v.copy() for k, v in mems.items()}
    kept_p, kept_m = dict(pc), dict(mc)                   # references, as min-char-rnn's loop keeps them
    ret = ns["adagrad_update"](pc, {k: v.copy() for k, v in grads.items()}, mc, learning_rate=0.1, clip=5.0)
    if ret is not None:
        print("  note: adagrad_update should update the arrays in place; its return value is ignored")
    rebound = [f"params[{k!r}]" for k in p if pc[k] is not kept_p[k]] + [f"mems[{k!r}]" for k in p if mc[k] is not kept_m[k]]
    if rebound:
        raise CheckFailed(f"{', '.join(rebound)} now hold new arrays: update the arrays in place (mems[k] += g * g, "
                          "params[k] -= ...), not params[k] = params[k] - ...")
    if all(np.array_equal(pc[k], p[k]) for k in p):
        raise CheckFailed("the parameters did not change: update the arrays in place (param += ..., not param = ...)")
    for k in NAMES:
        expect_close(f"mems[{k!r}]", mc[k], expected["mems"][k], tol=1e-10)
        expect_close(f"params[{k!r}]", pc[k], expected["params"][k], tol=1e-10)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, gscale, clip, lr in [("typical gradients", 1.0, 5.0, 0.1), ("large gradients (clipped)", 20.0, 5.0, 0.1),
                                    ("tiny gradients", 1e-6, 5.0, 0.1), ("no clipping", 20.0, None, 0.05),
                                    ("another clip value", 3.0, 1.0, 0.3)]:
        V, H = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        p = _params(rng, V, H)
        grads = {k: rng.normal(0, gscale, v.shape) for k, v in p.items()}
        mems = {k: (np.zeros(v.shape) if label == "tiny gradients" else rng.uniform(0, 3, v.shape)) for k, v in p.items()}
        cases.append(Case("adagrad_update", {"params": p, "grads": grads, "mems": mems, "learning_rate": lr, "clip": clip},
                          returns_kwargs=("params", "mems"), label=label))
    for label, clip in [("in place (typical gradients)", 5.0), ("in place (no clipping)", None)]:
        V, H = int(rng.integers(2, 7)), int(rng.integers(2, 7))
        p = _params(rng, V, H)
        grads = {k: rng.normal(0, 3.0, v.shape) for k, v in p.items()}
        mems = {k: rng.uniform(0, 3, v.shape) for k, v in p.items()}
        cases.append(Case("adagrad_update", {"params": p, "grads": grads, "mems": mems, "learning_rate": 0.1,
                                             "clip": clip}, label=label, shared=("params", "mems")))
    return cases


def _q3_reference(case: Case) -> tuple:
    return _adagrad_reference(**case.kwargs)


def _q3_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    if case.shared:                      # the arrays as the grader itself reads them back after the call
        if not isinstance(got, tuple) or len(got) != 2 or set(got[1]) != {"params", "mems"} \
                or any(v is None for v in got[1].values()):
            return False, "the arrays handed to adagrad_update could not be read back"
        held = got[1]
        same = [f"{d}[{k!r}]" for d in ("params", "mems") for k in sorted(case.kwargs[d])
                if np.array_equal(held[d][k], case.kwargs[d][k])]
        if same:
            return False, (f"{', '.join(same)}: the arrays you were given did not change -- update them in place "
                           "(mems[k] += g * g, params[k] -= ...), not by rebinding (params[k] = params[k] - ...); code "
                           "that keeps its own references to the parameters, like min-char-rnn's loop, would never "
                           "see the update")
        return compare_close(held, expected[1], tol=1e-9, path="the arrays after the update")
    if not isinstance(got, tuple) or len(got) != 2:
        return False, "unexpected result"
    return compare_close(got[1], expected[1], tol=1e-9, path="after the update")


LAB = LabSpec(
    lab_id=LAB_ID,
    title="min-char-rnn",
    questions=(
        Question("q1", "loss_fun: forward pass, cross-entropy and BPTT", 4, ("loss_fun",),
                 _q1_public, _q1_cases, _q1_reference, tol=1e-7,
                 compare=named_compare(("loss", "dWxh", "dWhh", "dWhy", "dbh", "dby", "h_last"), 1e-7)),
        Question("q2", "sample: generating characters with a temperature", 3, ("sample",),
                 _q2_public, _q2_cases, _q2_reference, compare=_q2_compare),
        Question("q3", "adagrad_update: clipping and the Adagrad step", 2, ("adagrad_update",),
                 _q3_public, _q3_cases, _q3_reference, compare=_q3_compare),
    ),
)
