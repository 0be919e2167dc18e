"""Lab 1 -- Visualising CNNs: questions, public checks and hidden tests.

The grading sandbox sees plain arrays only, so the network of this lab is a small NumPy classifier on
images, one hidden ReLU layer over the flattened pixels (the lecture's methods need only its gradient):

    a = W1 vec(x) + b1,   h = relu(a),   s = W2 h + b2        x (C, H, W), W1 (D, CHW), W2 (K, D)

* q1 ``relu_backward(f, R, rule) -> dL/df``                  backprop / deconvnet / guided rules
* q2 ``input_gradient(x, W1, b1, W2, b2, c, rule) -> (C, H, W)``  dS_c/dx with the ReLU's rule
* q3 ``saliency_map(grad) -> (H, W)``                          max over channels of |grad|
* q4 ``occlusion_map(x, W1, b1, W2, b2, c, patch, stride) -> (nR, nC)``  score drop per occluder position
* q5 ``class_visualization_step(img, W1, b1, W2, b2, c, lr, l2) -> img``   one normalised ascent step
* q6 ``gram_matrix(F) -> (C, C)``  and  q7 ``style_loss(features, target_grams, weights) -> float``

No function may change its inputs in place: every hidden case sends its arrays back after the call
(``Case.returns_kwargs``) and :func:`_judge` compares them with the grader's own copy of what was sent, which the
sandbox never sees. A wrong answer that matches a known mistake (``MISTAKES``, computed here from the case's
inputs) gets a hint at the likely cause; hints never show inputs or expected values.

References: :func:`course_utils.attribution.relu_backward`; the gradient methods of
:mod:`course_utils.attribution` and :func:`course_utils.synthesis.class_visualization_step` run on the
same network built in torch (float64); :func:`course_utils.synthesis.gram_matrix` / ``style_loss``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..spec import Case, CheckFailed, LabSpec, Question, compare_close, expect_close
from ._common import blame_earlier, changed_inputs as _changed_inputs, same_as_sent as _same

LAB_ID = "01_cnn_visualisation"
RULES = ("backprop", "deconvnet", "guided")

#: Reference answers in the students' interface, bound in the sandbox in place of an earlier answer.
REFERENCE_SOURCES: dict[str, str] = {
    "relu_backward": '''
import numpy as np

def relu_backward(f, R, rule):
    if rule == "backprop":
        return (f > 0) * R
    if rule == "deconvnet":
        return (R > 0) * R
    return (f > 0) * (R > 0) * R
''',
    "input_gradient": '''
import numpy as np

def input_gradient(x, W1, b1, W2, b2, c, rule="backprop"):
    a = W1 @ x.ravel() + b1
    R = W2[c]
    if rule == "backprop":
        da = (a > 0) * R
    elif rule == "deconvnet":
        da = (R > 0) * R
    else:
        da = (a > 0) * (R > 0) * R
    return (W1.T @ da).reshape(x.shape)
''',
}


def _provide(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple((n, REFERENCE_SOURCES[n]) for n in names)


# ---------------------------------------------------------------- the network, in torch, for the references

def _torch_net(W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray):
    import torch
    from torch import nn
    net = nn.Sequential(nn.Flatten(), nn.Linear(W1.shape[1], W1.shape[0]), nn.ReLU(), nn.Linear(W1.shape[0], W2.shape[0]))
    net = net.double().eval()
    with torch.no_grad():
        for layer, W, b in ((net[1], W1, b1), (net[3], W2, b2)):
            layer.weight.copy_(torch.from_numpy(np.asarray(W, dtype=np.float64)))
            layer.bias.copy_(torch.from_numpy(np.asarray(b, dtype=np.float64)))
    return net


def _scores(x: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    return W2 @ np.maximum(W1 @ x.ravel() + b1, 0) + b2


def _net(rng: np.random.Generator, C: int, H: int, W: int, D: int, K: int) -> dict[str, np.ndarray]:
    return {"W1": rng.normal(0, 1 / np.sqrt(C * H * W), (D, C * H * W)), "b1": rng.normal(0, 0.3, D),
            "W2": rng.normal(0, 1 / np.sqrt(D), (K, D)), "b2": rng.normal(0, 0.3, K)}


def _tiny_net(C: int = 2, H: int = 4, W: int = 5, D: int = 6, K: int = 3) -> dict[str, np.ndarray]:
    """Fixed cs231n-style parameters (evenly spaced values, mixed signs)."""
    n = C * H * W
    return {"x": np.linspace(-0.3, 1.1, num=n).reshape(C, H, W),
            "W1": np.sin(np.arange(D * n).reshape(D, n) * 0.37) * 0.4,
            "b1": np.linspace(-0.2, 0.3, num=D),
            "W2": np.cos(np.arange(K * D).reshape(K, D) * 0.91),
            "b2": np.linspace(0.1, -0.1, num=K)}


def _shapes(rng: np.random.Generator, n: int) -> list[tuple[int, int, int, int, int]]:
    out = [(1, 1, 1, 1, 2), (3, 2, 3, 4, 2), (1, 6, 6, 8, 10)]
    out += [tuple(int(v) for v in rng.integers([1, 2, 2, 2, 2], [4, 9, 9, 12, 11])) for _ in range(n)]
    return out                                                          # (C, H, W, D, K)


# ---------------------------------------------------------------- inputs left unchanged, hints for known mistakes

_INPLACE_FIX = ("the function must leave its inputs unchanged (the caller still needs them): work on a copy "
                "(e.g. x = x.copy()) or build new arrays (x + ..., np.where(...)) instead of +=, *= or slice "
                "assignment")


def _array_kwargs(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the arguments that are arrays or lists of arrays (those a function could change in place)."""
    return tuple(k for k, v in kwargs.items() if isinstance(v, np.ndarray)
                 or (isinstance(v, list) and v and all(isinstance(a, np.ndarray) for a in v)))


def _case(func: str, kwargs: dict[str, Any], **extra: Any) -> Case:
    """A hidden case whose array arguments come back after the call, to be compared with what was sent."""
    return Case(func, kwargs, returns_kwargs=_array_kwargs(kwargs), **extra)


def _judge(qid: str, tol: float, compare=None):
    """``Question.compare`` for lab 1: inputs unchanged, then the value, then a hint if a known mistake matches."""
    base = compare or (lambda got, expected, case: compare_close(got, expected, tol))

    def judge(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
        changed = _changed_inputs(got, case)
        if changed:
            names = ", ".join(f"`{n}`" for n in changed)
            return False, f"{names} changed in place by the call; {_INPLACE_FIX}"
        value = got[0] if case.returns_kwargs else got
        ok, msg = base(value, expected, case)
        if ok:
            return ok, msg
        for variant, hint in MISTAKES.get(qid, ()):
            try:
                wrong = variant(case)
                if base(wrong, expected, case)[0]:
                    continue                       # on this case the mistake gives the right answer anyway
                if base(value, wrong, case)[0]:
                    return False, f"{msg}; hint: {hint}"
            except Exception:  # a variant that cannot run on this case says nothing
                continue
        return False, msg
    return judge


def _public_inputs_unchanged(name: str, kwargs: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
    """Public checks: say so when a call changed one of its array arguments (``sent``: copies taken before)."""
    changed = [k for k in _array_kwargs(dict(sent)) if not _same(kwargs[k], sent[k])]
    if changed:
        raise CheckFailed(f"{name} changed {', '.join(f'`{k}`' for k in changed)} in place; {_INPLACE_FIX}")


def _call_public(ns: Mapping[str, Any], name: str, kwargs: Mapping[str, Any]) -> Any:
    """Call the student's ``name`` on fresh copies of ``kwargs`` and check it left them unchanged."""
    import copy
    args = copy.deepcopy(dict(kwargs))
    got = ns[name](**args)
    _public_inputs_unchanged(name, args, kwargs)
    return got


# ---------------------------------------------------------------- q1: relu_backward

def _q1_reference(case: Case) -> np.ndarray:
    from ...attribution import relu_backward
    return relu_backward(**case.kwargs)


def _q1_public(ns: Mapping[str, Any]) -> None:
    f = np.array([[-1.0, 2.0, 0.5], [3.0, -4.0, 0.0]])
    R = np.array([[5.0, -6.0, 0.25], [7.0, 8.0, 9.0]])
    for rule in RULES:
        got = _call_public(ns, "relu_backward", {"f": f, "R": R, "rule": rule})
        expect_close(f"rule={rule!r}", got, _q1_reference(Case("", {"f": f, "R": R, "rule": rule})), tol=1e-12)


def _q1_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for rule in RULES:
        for shape in [(7,), (3, 4), (2, 3, 5, 4)]:
            while True:   # an answer of all zeros would reward returning zeros: draw again (guided rule, small f)
                f, R = rng.normal(size=shape), rng.normal(size=shape)
                f.flat[::3] = 0.0                                       # a ReLU passes nothing back where f == 0
                case = _case("relu_backward", {"f": f, "R": R, "rule": rule}, label=f"rule={rule}, shape {shape}")
                if np.any(_q1_reference(case)):
                    break
            cases.append(case)
    return cases


# ---------------------------------------------------------------- q2: input_gradient

def _q2_reference(case: Case) -> np.ndarray:
    import torch

    from ...attribution import Deconvnet, GuidedBackprop, Saliency
    k = case.kwargs
    net = _torch_net(k["W1"], k["b1"], k["W2"], k["b2"])
    method = {"backprop": Saliency(net, absolute=False), "deconvnet": Deconvnet(net),
              "guided": GuidedBackprop(net)}[k.get("rule", "backprop")]
    x = torch.from_numpy(np.asarray(k["x"], dtype=np.float64))[None]
    return method.attribute(x, int(k["c"]))[0].numpy()


def _q2_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "relu_backward", "q1", _q1_public)
    p = _tiny_net()
    for rule in RULES:
        kw = {**p, "c": 1, "rule": rule}
        got = _call_public(ns, "input_gradient", kw)
        expect_close(f"dS_1/dx, rule={rule!r}", got, _q2_reference(Case("", kw)), tol=1e-8)


def _q2_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for C, H, W, D, K in _shapes(rng, 2):
        net = _net(rng, C, H, W, D, K)
        for rule in RULES:
            while True:   # dS_c/dx all zeros (the rule passes nothing back) would reward returning zeros: draw again
                kw = {"x": rng.uniform(-1, 1, (C, H, W)), **net, "c": int(rng.integers(K)), "rule": rule}
                if not _dead_gradient(kw):
                    break
                net = _net(rng, C, H, W, D, K)
            cases.append(_case("input_gradient", kw, label=f"C={C}, H={H}, W={W}, D={D}, K={K}, rule={rule}",
                              provide=_provide("relu_backward")))
    return cases


def _dead_gradient(kw: Mapping[str, Any]) -> bool:
    """Whether the rule passes nothing back through the hidden layer, so that dS_c/dx is all zeros."""
    a, R = kw["W1"] @ np.ravel(kw["x"]) + kw["b1"], kw["W2"][int(kw["c"])]
    mask = {"backprop": a > 0, "deconvnet": R > 0, "guided": (a > 0) & (R > 0)}[kw["rule"]]
    return not np.any(mask * R)


# ---------------------------------------------------------------- q3: saliency_map

def _q3_reference(case: Case) -> np.ndarray:
    from ...attribution import to_heatmap
    return to_heatmap(np.asarray(case.kwargs["grad"])[None])[0]


def _q3_public(ns: Mapping[str, Any]) -> None:
    grad = np.array([[[0.5, -2.0], [1.0, 0.0]], [[-1.5, 1.0], [0.25, -0.75]], [[0.1, 0.2], [-3.0, 0.3]]])
    expect_close("saliency", _call_public(ns, "saliency_map", {"grad": grad}), _q3_reference(Case("", {"grad": grad})),
                 tol=1e-12)


def _q3_cases(rng: np.random.Generator) -> list[Case]:
    cases = [_case("saliency_map", {"grad": rng.normal(size=(1, 5, 4))}, label="one channel")]
    for C, H, W, _, _ in _shapes(rng, 3)[1:]:
        g = rng.normal(size=(C, H, W))
        g[0] *= -3                                           # large negative gradients in one channel
        cases.append(_case("saliency_map", {"grad": g}, label=f"C={C}, H={H}, W={W}"))
    return cases


# ---------------------------------------------------------------- q4: occlusion_map

def _q4_reference(case: Case) -> np.ndarray:
    k = case.kwargs
    x, p, s, c = np.asarray(k["x"], dtype=float), int(k["patch"]), int(k["stride"]), int(k["c"])
    net = (k["W1"], k["b1"], k["W2"], k["b2"])
    C, H, W = x.shape
    rows, cols = range(0, H - p + 1, s), range(0, W - p + 1, s)
    base = _scores(x, *net)[c]
    out = np.zeros((len(rows), len(cols)))
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            xo = x.copy()
            xo[:, r:r + p, q:q + p] = 0.0
            out[i, j] = base - _scores(xo, *net)[c]
    return out


def _q4_public(ns: Mapping[str, Any]) -> None:
    p = _tiny_net(C=1, H=5, W=6)
    kw = {**p, "c": 2, "patch": 2, "stride": 2}
    got = _call_public(ns, "occlusion_map", kw)
    expect_close("occlusion map (patch 2, stride 2)", got, _q4_reference(Case("", kw)), tol=1e-8)
    kw = {**_tiny_net(C=2, H=4, W=5), "c": 0, "patch": 3, "stride": 1}
    got = _call_public(ns, "occlusion_map", kw)
    expect_close("occlusion map (patch 3, stride 1)", got, _q4_reference(Case("", kw)), tol=1e-8)


def _q4_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for C, H, W, D, K in _shapes(rng, 3)[1:]:
        patch = int(rng.integers(1, min(H, W) + 1))
        stride = int(rng.integers(1, patch + 1))
        while True:   # a network that ignores every occluded pixel (map all zeros) would reward zeros: draw again
            kw = {"x": rng.uniform(0, 1, (C, H, W)), **_net(rng, C, H, W, D, K), "c": int(rng.integers(K)),
                  "patch": patch, "stride": stride}
            case = _case("occlusion_map", kw, label=f"C={C}, H={H}, W={W}, patch={patch}, stride={stride}")
            if np.any(_q4_reference(case)):
                break
        cases.append(case)
    while True:
        kw = {"x": rng.uniform(0, 1, (1, 7, 7)), **_net(rng, 1, 7, 7, 5, 3), "c": 1, "patch": 3, "stride": 2}
        case = _case("occlusion_map", kw, label="a stride that does not tile the image")
        if np.any(_q4_reference(case)):
            break
    cases.append(case)
    return cases


# ---------------------------------------------------------------- q5: class_visualization_step

def _q5_reference(case: Case) -> np.ndarray:
    import torch

    from ...synthesis import class_visualization_step
    k = case.kwargs
    net = _torch_net(k["W1"], k["b1"], k["W2"], k["b2"])
    img = torch.from_numpy(np.asarray(k["img"], dtype=np.float64))[None]
    new, _ = class_visualization_step(net, img, int(k["c"]), lr=float(k["lr"]), l2=float(k["l2"]))
    return new[0].numpy()


def _q5_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "input_gradient", "q2", _q2_public)
    p = _tiny_net()
    kw = {"img": p.pop("x"), **p, "c": 2, "lr": 0.3, "l2": 0.05}
    got = _call_public(ns, "class_visualization_step", kw)
    expect_close("new image", got, _q5_reference(Case("", kw)), tol=1e-8)


def _q5_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for C, H, W, D, K in _shapes(rng, 3):
        while True:   # the step divides by the gradient's norm: draw again when it is (near) zero
            kw = {"img": rng.uniform(0, 1, (C, H, W)), **_net(rng, C, H, W, D, K), "c": int(rng.integers(K)),
                  "lr": float(rng.uniform(0.1, 2)), "l2": float(rng.choice([0.0, rng.uniform(0.01, 0.5)]))}
            a = kw["W1"] @ kw["img"].ravel() + kw["b1"]
            g = kw["W1"].T @ ((a > 0) * kw["W2"][kw["c"]]) - 2 * kw["l2"] * kw["img"].ravel()
            if np.linalg.norm(g) > 1e-3:
                break
        cases.append(_case("class_visualization_step", kw, label=f"C={C}, H={H}, W={W}, {'an L2 penalty' if kw['l2'] else 'no L2 penalty'}",
                          provide=_provide("input_gradient")))
    kw = {"img": rng.uniform(0, 1, (1, 4, 4)), **_net(rng, 1, 4, 4, 6, 3), "c": 0, "lr": 0.5, "l2": 2.0}
    cases.append(_case("class_visualization_step", kw, label="a strong L2 penalty", provide=_provide("input_gradient")))
    return cases


# ---------------------------------------------------------------- q6: gram_matrix, q7: style_loss

def _q6_reference(case: Case) -> np.ndarray:
    import torch

    from ...synthesis import gram_matrix
    return gram_matrix(torch.from_numpy(np.asarray(case.kwargs["F"], dtype=np.float64))[None])[0].numpy()


def _q6_public(ns: Mapping[str, Any]) -> None:
    F = np.linspace(-1, 2, num=3 * 2 * 4).reshape(3, 2, 4)
    expect_close("G", _call_public(ns, "gram_matrix", {"F": F}), _q6_reference(Case("", {"F": F})), tol=1e-10)


def _q6_cases(rng: np.random.Generator) -> list[Case]:
    shapes = [(1, 1, 1), (2, 3, 5), (4, 1, 7)] + [tuple(int(v) for v in rng.integers(1, [9, 8, 8])) for _ in range(3)]
    cases = []
    for s in shapes:
        while True:   # features all zero (a small F after the ReLU may be) give G = 0, as zeros would: draw again
            F = np.maximum(rng.normal(size=s), 0)
            if F.any():
                break
        cases.append(_case("gram_matrix", {"F": F}, label=f"F of shape {s}"))
    return cases


def _q7_reference(case: Case) -> float:
    import torch

    from ...synthesis import style_loss
    k = case.kwargs
    feats = [torch.from_numpy(np.asarray(f, dtype=np.float64))[None] for f in k["features"]]
    grams = [torch.from_numpy(np.asarray(g, dtype=np.float64))[None] for g in k["target_grams"]]
    return float(style_loss(feats, grams, k["weights"]))


def _style_inputs(rng: np.random.Generator, layers: list[tuple[int, int, int]]) -> dict[str, Any]:
    feats = [np.maximum(rng.normal(size=s), 0) for s in layers]
    grams = []
    for C, H, W in layers:
        while True:   # the loss divides by ||A||_F^2: never hand out an all-zero target
            G = np.maximum(rng.normal(size=(C, H * W)), 0)
            if G.any():
                break
        grams.append(G @ G.T / (H * W))
    return {"features": feats, "target_grams": grams, "weights": [float(w) for w in rng.uniform(0.2, 3, len(layers))]}


def _q7_public(ns: Mapping[str, Any]) -> None:
    blame_earlier(ns, "gram_matrix", "q6", _q6_public)
    kw = _style_inputs(np.random.default_rng(7), [(2, 3, 3), (3, 2, 2)])
    got = _call_public(ns, "style_loss", kw)
    if not isinstance(got, (float, int, np.floating)) and not (isinstance(got, np.ndarray) and got.shape == ()):
        raise CheckFailed(f"return one number (a float), got {type(got).__name__}")
    expect_close("style loss", float(got), _q7_reference(Case("", kw)), tol=1e-8)


def _q7_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n_layers in (1, 2, 3, 3):
        layers = [tuple(int(v) for v in rng.integers(1, [7, 6, 6])) for _ in range(n_layers)]
        cases.append(_case("style_loss", _style_inputs(rng, layers), label=f"{n_layers} layers",
                          provide=_provide_gram()))
    return cases


def _provide_gram() -> tuple[tuple[str, str], ...]:
    return (("gram_matrix", "import numpy as np\n\ndef gram_matrix(F):\n    C = F.shape[0]\n"
                            "    Fm = F.reshape(C, -1)\n    return Fm @ Fm.T / Fm.shape[1]\n"),)


# ---------------------------------------------------------------- known mistakes: what they return, and the hint

def _relu_rule_variant(masks: dict[str, Any]):
    def variant(case: Case) -> np.ndarray:
        k = case.kwargs
        f, R = np.asarray(k["f"], dtype=float), np.asarray(k["R"], dtype=float)
        return masks[k["rule"]](f, R) * R
    return variant


def _gradient_variant(da_rule):
    def variant(case: Case) -> np.ndarray:
        k = case.kwargs
        x = np.asarray(k["x"], dtype=float)
        a = k["W1"] @ x.ravel() + k["b1"]
        return (k["W1"].T @ da_rule(a, k["W2"][int(k["c"])], k.get("rule", "backprop"))).reshape(x.shape)
    return variant


def _ascent_variant(penalty: float, normalise: bool):
    def variant(case: Case) -> np.ndarray:
        k = case.kwargs
        img = np.asarray(k["img"], dtype=float)
        a = k["W1"] @ img.ravel() + k["b1"]
        g = (k["W1"].T @ ((a > 0) * k["W2"][int(k["c"])])).reshape(img.shape) + penalty * k["l2"] * img
        return img + k["lr"] * (g / np.linalg.norm(g) if normalise else g)
    return variant


def _occlusion_variant(sign: float = 1.0, channels: slice = slice(None)):
    def variant(case: Case) -> np.ndarray:
        k = case.kwargs
        x, p, st, c = np.asarray(k["x"], dtype=float), int(k["patch"]), int(k["stride"]), int(k["c"])
        net = (k["W1"], k["b1"], k["W2"], k["b2"])
        _, H, W = x.shape
        rows, cols = range(0, H - p + 1, st), range(0, W - p + 1, st)
        out = np.zeros((len(rows), len(cols)))
        for i, r in enumerate(rows):
            for j, q in enumerate(cols):
                xo = x.copy()
                xo[channels, r:r + p, q:q + p] = 0.0
                out[i, j] = sign * (_scores(x, *net)[c] - _scores(xo, *net)[c])
        return out
    return variant


def _gram_variant(divide_by: str):
    def variant(case: Case) -> np.ndarray:
        F = np.asarray(case.kwargs["F"], dtype=float)
        Fm = F.reshape(F.shape[0], -1)
        return Fm @ Fm.T / {"none": 1, "C": F.shape[0]}[divide_by]
    return variant


def _style_variant(squared: bool = True, normalised: bool = True, weighted: bool = True):
    def variant(case: Case) -> float:
        k = case.kwargs
        total = 0.0
        for F, A, w in zip(k["features"], k["target_grams"], k["weights"]):
            G = _q6_reference(Case("", {"F": F}))
            err = np.sum((G - A) ** 2) if squared else np.linalg.norm(G - A)
            norm = (np.sum(A ** 2) if squared else np.linalg.norm(A)) if normalised else 1.0
            total += (w if weighted else 1.0) * err / norm
        return float(total)
    return variant


#: Per question: (what a known mistake returns for a case, the hint shown when the answer matches it).
MISTAKES: dict[str, tuple[tuple[Any, str], ...]] = {
    "q1": (
        (_relu_rule_variant({"backprop": lambda f, R: f >= 0, "deconvnet": lambda f, R: R > 0,
                             "guided": lambda f, R: (f >= 0) & (R > 0)}),
         "your output matches a mask with f >= 0; a ReLU passes nothing back where its input is exactly 0 "
         "(the f == 0 case), so the forward mask is f > 0"),
        (_relu_rule_variant({"backprop": lambda f, R: f > 0, "deconvnet": lambda f, R: f > 0,
                             "guided": lambda f, R: (f > 0) & (R > 0)}),
         "for the deconvnet rule your output matches the forward mask (f > 0); the deconvnet masks by the sign of "
         "the upstream gradient R instead"),
        (_relu_rule_variant({"backprop": lambda f, R: f > 0, "deconvnet": lambda f, R: R > 0,
                             "guided": lambda f, R: R > 0}),
         "for the guided rule your output matches the deconvnet rule; guided backprop applies both masks, "
         "f > 0 and R > 0"),
    ),
    "q2": (
        (_gradient_variant(lambda a, r, rule: (a > 0) * r),
         "your output matches the plain gradient whatever the rule; pass `rule` on to the ReLU's backward pass"),
        (_gradient_variant(lambda a, r, rule: r),
         "your output matches the gradient of the network without its ReLU; mask the gradient at the hidden "
         "layer by the rule"),
    ),
    "q3": (
        (lambda case: np.asarray(case.kwargs["grad"], dtype=float).max(axis=0),
         "your output matches the max of the signed gradient; take the absolute value first"),
        (lambda case: np.abs(np.asarray(case.kwargs["grad"], dtype=float)).sum(axis=0),
         "your output matches the sum over channels; Simonyan's map takes the maximum over channels"),
    ),
    "q4": (
        (_occlusion_variant(sign=-1.0),
         "your output matches the sign-flipped drop; return score(original) - score(occluded)"),
        (_occlusion_variant(channels=slice(0, 1)),
         "your output matches an occluder on the first channel only; cover all channels"),
    ),
    "q5": (
        (_ascent_variant(-2.0, normalise=False),
         "your output matches a step lr * g without dividing by the gradient's Euclidean norm ||g||"),
        (_ascent_variant(+2.0, normalise=True),
         "your output matches g = dS/dI + 2 lambda I; the penalty is subtracted, so its gradient is -2 lambda I"),
        (_ascent_variant(-1.0, normalise=True),
         "your output matches g = dS/dI - lambda I; the derivative of lambda ||I||^2 is 2 lambda I"),
    ),
    "q6": (
        (_gram_variant("none"), "your output matches F F^T without the division by the number of positions H * W"),
        (_gram_variant("C"), "your output matches F F^T / C; divide by the number of positions H * W, not channels"),
    ),
    "q7": (
        (_style_variant(squared=False),
         "your output matches the Frobenius norms themselves; the loss uses their squares"),
        (_style_variant(normalised=False),
         "your output matches the loss without the division by ||A_l||_F^2"),
        (_style_variant(weighted=False), "your output matches the loss without the layer weights w_l"),
    ),
}


def _float_compare(got: Any, expected: Any, case: Case) -> tuple[bool, str]:
    from ..spec import compare_close
    if isinstance(got, np.ndarray) and got.shape == ():
        got = float(got)
    if not isinstance(got, (float, int)) or isinstance(got, bool):
        return False, f"expected one number, got {type(got).__name__}"
    return compare_close(float(got), expected, 1e-7, path="style loss")


LAB = LabSpec(
    lab_id=LAB_ID,
    title="Visualising CNNs",
    questions=(
        Question("q1", "relu_backward: the three ReLU backward rules", 2, ("relu_backward",),
                 _q1_public, _q1_cases, _q1_reference, tol=1e-10,
                 compare=_judge("q1", 1e-10)),
        Question("q2", "input_gradient: dS_c/dx through the network", 3, ("input_gradient",),
                 _q2_public, _q2_cases, _q2_reference, tol=1e-7,
                 compare=_judge("q2", 1e-7)),
        Question("q3", "saliency_map: max over channels of |gradient|", 1, ("saliency_map",),
                 _q3_public, _q3_cases, _q3_reference, tol=1e-10,
                 compare=_judge("q3", 1e-10)),
        Question("q4", "occlusion_map: score drop under a sliding occluder", 2, ("occlusion_map",),
                 _q4_public, _q4_cases, _q4_reference, tol=1e-7,
                 compare=_judge("q4", 1e-7)),
        Question("q5", "class_visualization_step: one regularised ascent step", 2, ("class_visualization_step",),
                 _q5_public, _q5_cases, _q5_reference, tol=1e-7,
                 compare=_judge("q5", 1e-7)),
        Question("q6", "gram_matrix: feature correlations", 1, ("gram_matrix",),
                 _q6_public, _q6_cases, _q6_reference, tol=1e-9,
                 compare=_judge("q6", 1e-9)),
        Question("q7", "style_loss: Gatys's style loss", 2, ("style_loss",),
                 _q7_public, _q7_cases, _q7_reference, compare=_judge("q7", 1e-7, _float_compare)),
    ),
)
