"""The course's PyTorch paths, each runnable on any device from the same CPU weights and inputs.

A :class:`Path` has ``run(device) -> result`` (plain numbers and NumPy arrays, on the CPU) and
``compare(reference, other) -> [Measure]``. :func:`build_paths` lists them: CNN training
(:func:`course_utils.cnn.train_cnn`), every attribution method of :mod:`course_utils.attribution` and every
attack of :mod:`course_utils.adversarial` (discovered from the modules' ``__all__``, so a method added later is
checked too), the captioners of :mod:`course_utils.captioning` (forward, loss, training, greedy / sampled / beam
decoding on the same weights), the char-LM trainer (:class:`course_utils.charrnn.lm_train.LMTrainer`, float32,
on the shipped ``python`` corpus), the sequence classifiers of :mod:`course_utils.sequence_models`, and
the pixel optimisations of :mod:`course_utils.synthesis`.

Every model is built (or loaded) once on the CPU and copied to each device, so both sides start from the same
weights; data come from the CPU too. A path whose randomness is drawn from the *device's* generator cannot be
compared number for number; it is listed with the reason (``Path.skip``).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import torch

from .compare import Measure, measure

__all__ = ["Path", "Fixtures", "build_paths", "GROUPS", "quiet", "recorded_fit"]

GROUPS = ("cnn", "attribution", "adversarial", "captioning", "charrnn", "sequence_models", "synthesis")

Result = dict[str, Any]


@dataclass
class Path:
    """One course path: ``run(device)`` returns its result on the CPU; ``compare(ref, other)`` the measures.

    ``prepare()`` builds what ``run`` shares with other paths (CPU models, data), before anything is timed.
    """
    group: str
    name: str
    run: Callable[[torch.device], Result] | None = None
    compare: Callable[[Result, Result], list[Measure]] | None = None
    prepare: Callable[[], Any] | None = None
    skip: str | None = None            # why it is not compared (then run/compare are None)


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _on(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A copy of the CPU model on ``device`` (the same weights), in eval mode."""
    return copy.deepcopy(model).to(device).eval()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow the progress bars and text lines the trainers print."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        yield


@contextlib.contextmanager
def recorded_fit() -> Iterator[list]:
    """Record the :class:`~course_utils.training.History` of every :func:`course_utils.training.fit` call inside
    the block (``train_cnn`` keeps only its metrics; its loss curve is what ``fit`` saw)."""
    from .. import training
    histories: list = []
    real = training.fit

    def recording(*args: Any, **kwargs: Any):
        history = real(*args, **kwargs)
        histories.append(history)
        return history

    training.fit = recording
    try:
        yield histories
    finally:
        training.fit = real


class Fixtures:
    """What the paths share, built once on the CPU (and not timed): models, images, captions, text."""

    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.n_images = 4 if quick else 32

    @cached_property
    def digits_cnn(self) -> torch.nn.Module:
        from ..cnn import load_cnn
        with quiet():
            model, _ = load_cnn("digits", device="cpu", progress=False)
        return model.eval()

    @cached_property
    def scenes_cnn(self) -> torch.nn.Module:
        from ..cnn import load_cnn
        with quiet():
            model, _ = load_cnn("scenes", device="cpu", progress=False)
        return model.eval()

    @cached_property
    def digits_test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The digits test split at 32x32, made generic: X (360, 1, 32, 32), y (360,).

        The digits have a constant black background and saturated strokes: equal pixels give equal activations,
        and a max-pool window of equal values passes its gradient to whichever one rounding makes largest, so
        gradients there differ between any two devices by far more than rounding (measured: perturbing the
        convolutions' outputs by 1e-8 relative changes the saliency maps of the clean digits by 1.4 %). The check
        maps them into [0.01, 0.99] and adds uniform noise of 0.01 (drawn once on the CPU): no two pixels are equal.
        """
        from ..cnn import cnn_data
        X, y = cnn_data("digits", "test")
        noise = torch.rand(X.shape, generator=torch.Generator().manual_seed(0))
        return 0.01 + 0.98 * X + 0.01 * noise, y

    def prepare_cnn(self) -> None:
        """Load the digits CNN and its test images (what the attribution, attack and synthesis paths use)."""
        self.digits_cnn, self.digits_test

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = self.digits_test
        return X[: self.n_images], y[: self.n_images]

    @cached_property
    def captions(self) -> dict[str, Any]:
        """A small captioning set: grid features (N, 64, 8, 8) of the scenes CNN, captions (N, R, T), vocabulary."""
        from ..captioning import scene_features
        from ..data.captions import load_captions
        n = 16 if self.quick else 64
        data = load_captions(n_train=n, n_val=4, n_test=4, cache=False)
        feats = scene_features(self.scenes_cnn, data.train.images)
        return {"vocab": data.vocab, "features": feats, "ids": data.train.ids}

    @cached_property
    def digits_split(self):
        from ..data import load_digits_split
        return load_digits_split()

    @cached_property
    def text(self) -> dict[str, Any]:
        from ..data.corpora import load_corpus
        from ..data.text import CharVocab, train_val_split
        raw = load_corpus("python", max_chars=60_000 if self.quick else 400_000)
        train, val = train_val_split(raw, 0.1)
        vocab = CharVocab.from_text(raw)
        return {"vocab": vocab, "train": vocab.encode(train), "val": vocab.encode(val)}


# ------------------------------------------------------------------ CNN training

def _cnn_paths(fx: Fixtures) -> list[Path]:
    from ..cnn import CONFIGS, cnn_data, train_cnn
    configs = [("digits", replace(CONFIGS["digits"], epochs=1, batch_size=128 if fx.quick else 32))]
    if not fx.quick:
        configs.append(("scenes", replace(CONFIGS["scenes"], epochs=1, n_train=512)))

    def make(kind: str, config) -> Path:
        def run(dev: torch.device) -> Result:
            with recorded_fit() as histories, quiet():
                model, info = train_cnn(config, dev, progress=True)
            return {"loss": histories[-1].loss, "val": info["val"], "test": info["test"]}

        def compare(a: Result, b: Result) -> list[Measure]:
            out = [measure("training loss per step", "curve", a["loss"], b["loss"])]
            for split in ("val", "test"):
                out += [measure(f"{split} {k}", "metric", a[split][k], b[split][k]) for k in a[split]]
            return out

        steps = "1 epoch" if kind == "digits" else f"1 epoch of {config.n_train} scenes"
        def prepare() -> None:                      # the data (and the imports that load it), not timed
            for split in ("train", "val", "test"):
                cnn_data(kind, split, config)

        return Path("cnn", f"train_cnn {kind}, {steps}, batch {config.batch_size}", run, compare, prepare)

    return [make(k, c) for k, c in configs]


# ------------------------------------------------------------------ attribution

def attribution_methods() -> list[type]:
    """Every attribution class exported by :mod:`course_utils.attribution` (subclasses of ``Attribution``)."""
    from .. import attribution as A
    found = []
    for name in A.__all__:
        obj = getattr(A, name, None)
        if isinstance(obj, type) and issubclass(obj, A.Attribution) and obj is not A.Attribution:
            found.append(obj)
    return found


def _required_args(fn: Callable, skip: int) -> list[str]:
    params = list(inspect.signature(fn).parameters.values())[skip:]
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _attribution_paths(fx: Fixtures) -> list[Path]:
    paths = []
    for cls in attribution_methods():
        missing = _required_args(cls.__init__, 2)          # self, model
        if missing:
            paths.append(Path("attribution", cls.__name__, skip=f"its constructor needs {missing}; "
                                                                 "add them in gpu_check/paths.py"))
            continue

        def run(dev: torch.device, cls=cls) -> Result:
            x, y = fx.batch
            model = _on(fx.digits_cnn, dev)
            return {"map": _np(cls(model).attribute(x.to(dev), y.to(dev)))}

        def compare(a: Result, b: Result) -> list[Measure]:
            return [measure("attribution map (N, 1, 32, 32)", "gradient", a["map"], b["map"])]

        paths.append(Path("attribution", f"{cls.__name__} of the digits CNN", run, compare, fx.prepare_cnn))
    return paths


# ------------------------------------------------------------------ adversarial

def attacks() -> list[tuple[str, Callable]]:
    """Every function of :mod:`course_utils.adversarial` with an attack's signature ``(model, x, y, eps, ...)``."""
    from .. import adversarial as adv
    found = []
    for name in adv.__all__:
        fn = getattr(adv, name, None)
        if inspect.isfunction(fn) and list(inspect.signature(fn).parameters)[:4] == ["model", "x", "y", "eps"]:
            found.append((name, fn))
    return found


def _correct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    with torch.no_grad():
        return int((model(x).argmax(1) == y.to(x.device)).sum())


def _adversarial_paths(fx: Fixtures) -> list[Path]:
    from .. import adversarial as adv
    eps = 0.1
    paths = []

    def gradient_run(dev: torch.device) -> Result:
        x, y = fx.batch
        return {"grad": _np(adv.input_gradient(_on(fx.digits_cnn, dev), x, y))}

    prepare = fx.prepare_cnn
    paths.append(Path("adversarial", "input_gradient", gradient_run,
                      lambda a, b: [measure("d loss / d x", "gradient", a["grad"], b["grad"])], prepare))

    for name, attack in attacks():
        def run(dev: torch.device, attack=attack) -> Result:
            x, y = fx.batch
            model = _on(fx.digits_cnn, dev)
            x_adv = attack(model, x, y, eps)
            return {"x_adv": _np(x_adv), "correct": _correct(model, x_adv, y)}

        def compare(a: Result, b: Result) -> list[Measure]:
            return [measure(f"adversarial images, eps {eps}", "signs", a["x_adv"], b["x_adv"]),
                    measure("correct under attack", "argmax", a["correct"], b["correct"])]

        paths.append(Path("adversarial", f"{name}, eps {eps}", run, compare, prepare))

    n_acc = 64 if fx.quick else 360
    eps_values = (0.0, 0.05, 0.1)

    def accuracy_run(dev: torch.device) -> Result:
        X, y = fx.digits_test
        return {"acc": adv.accuracy_vs_eps(_on(fx.digits_cnn, dev), X[:n_acc], y[:n_acc], eps_values).tolist()}

    paths.append(Path("adversarial", f"accuracy_vs_eps (FGSM, {n_acc} images)", accuracy_run,
                      lambda a, b: [measure(f"correct at eps {e}", "argmax", round(p * n_acc), round(q * n_acc))
                                    for e, p, q in zip(eps_values, a["acc"], b["acc"])], prepare))

    steps = 20 if fx.quick else 100

    def fooling_run(dev: torch.device) -> Result:
        # confidence above 1 is never reached: both sides take every step (no early stop decided by rounding)
        images, probs, _ = adv.fooling_images(_on(fx.digits_cnn, dev), [0, 3, 7], (1, 32, 32), confidence=2.0,
                                              steps=steps)
        return {"images": _np(images), "p": _np(probs)}

    paths.append(Path("adversarial", f"fooling_images, {steps} Adam steps", fooling_run,
                      lambda a, b: [measure("images", "iterate", a["images"], b["images"]),
                                    *[measure(f"p(class) of image {i}", "metric", p, q)
                                      for i, (p, q) in enumerate(zip(a["p"], b["p"]))]], prepare))

    n_train = 128 if fx.quick else 360

    def training_run(dev: torch.device) -> Result:
        X, y = fx.digits_test
        robust, losses = adv.adversarial_training(_on(fx.digits_cnn, dev), X[:n_train], y[:n_train], eps,
                                                  epochs=1, progress=False)
        return {"loss": losses, "correct": _correct(robust, X[-n_acc:].to(dev), y[-n_acc:])}

    paths.append(Path("adversarial", f"adversarial_training, 1 epoch of {n_train}", training_run,
                      lambda a, b: [measure("first step's loss (same weights)", "pass", a["loss"][0], b["loss"][0]),
                                    measure("training loss per step", "chaotic", a["loss"], b["loss"]),
                                    measure(f"clean accuracy on {n_acc} images", "metric",
                                            a["correct"] / n_acc, b["correct"] / n_acc)], prepare))
    return paths


# ------------------------------------------------------------------ captioning

def _captioners() -> list[tuple[str, Callable[[int], torch.nn.Module]]]:
    """(label, vocabulary size -> model) of each captioner checked."""
    from ..captioning import AttentionCaptioner, CaptionModel
    # dropout 0: a dropout mask is drawn from the device's own generator, so it would differ between devices
    return [("CaptionModel lstm, h0",
             lambda V: CaptionModel(V, (64, 8, 8), cell="lstm", conditioning="h0", dropout=0.0)),
            ("CaptionModel rnn, per_step",
             lambda V: CaptionModel(V, (64, 8, 8), cell="rnn", conditioning="per_step", dropout=0.0)),
            ("AttentionCaptioner", lambda V: AttentionCaptioner(V, dropout=0.0))]


def _captioning_paths(fx: Fixtures) -> list[Path]:
    from .. import captioning as cap
    paths = []
    train_steps = 5 if fx.quick else 30
    n_decode = 4 if fx.quick else 16

    def data() -> dict[str, Any]:
        return fx.captions

    def epochs() -> float:
        """The epochs that make ``train_steps`` steps of 16 captions."""
        return train_steps / max(1, len(data()["ids"]) // 16)

    def build(make: Callable[[int], torch.nn.Module]) -> torch.nn.Module:
        torch.manual_seed(0)
        return make(len(data()["vocab"])).eval()

    for i, (label, maker) in enumerate(_captioners()):
        def forward_run(dev: torch.device, maker=maker) -> Result:
            d = data()
            model = _on(build(maker), dev)
            feats = torch.as_tensor(d["features"][:n_decode]).to(dev)
            caps = torch.as_tensor(d["ids"][:n_decode, 0]).to(dev)
            with torch.no_grad():
                out = model(feats, caps[:, :-1])
                loss = model.loss(feats, caps)
            scores, alphas = out if isinstance(out, tuple) else (out, None)
            res = {"scores": _np(scores), "loss": float(loss)}
            if alphas is not None:
                res["alphas"] = _np(alphas)
            return res

        def forward_compare(a: Result, b: Result) -> list[Measure]:
            out = [measure("teacher-forced scores (N, T, V)", "pass", a["scores"], b["scores"]),
                   measure("caption loss", "pass", a["loss"], b["loss"])]
            if "alphas" in a:
                out.append(measure("attention weights (N, T, L)", "pass", a["alphas"], b["alphas"]))
            return out

        paths.append(Path("captioning", f"{label}: forward + loss", forward_run, forward_compare, data))

        def train_run(dev: torch.device, maker=maker) -> Result:
            d = data()
            model = _on(build(maker), dev)
            with quiet():
                history = cap.train_captioner(model, d["features"], d["ids"], epochs=epochs(), batch_size=16,
                                              device=dev, desc="gpu check")
            return {"loss": history.loss}

        paths.append(Path("captioning", f"{label}: train_captioner, {train_steps} steps", train_run,
                          lambda a, b: [measure("training loss per step", "curve", a["loss"], b["loss"])], data))

        trained: dict[int, dict] = {}

        def decode_weights(i: int = i, maker=maker) -> torch.nn.Module:
            """The model after CPU training (same weights on both sides); trained once, outside the timers."""
            if i not in trained:
                d = data()
                model = build(maker)
                with quiet():
                    cap.train_captioner(model, d["features"], d["ids"], epochs=epochs(), batch_size=16,
                                        device="cpu", desc="gpu check")
                trained[i] = {k: v.clone() for k, v in model.state_dict().items()}
            model = build(maker)
            model.load_state_dict(trained[i])
            return model.eval()

        def decode_run(dev: torch.device, decode_weights=decode_weights) -> Result:
            model = _on(decode_weights(), dev)
            feats = torch.as_tensor(data()["features"][:n_decode])
            greedy = cap.greedy_decode(model, feats)
            sampled = cap.sample_decode(model, feats, temperature=1.0, rng=np.random.default_rng(0))
            beam = cap.beam_decode(model, feats, width=3)
            scores = [cap.beam_search(model, feats[n:n + 1], width=3)[1] for n in range(n_decode)]
            return {"greedy": greedy, "sampled": sampled, "beam": beam, "beam_scores": scores}

        def decode_compare(a: Result, b: Result) -> list[Measure]:
            same = [n for n in range(n_decode) if (a["beam"][n] == b["beam"][n]).all()]
            return [measure(f"greedy captions of {n_decode} images", "decode", a["greedy"], b["greedy"]),
                    measure(f"sampled captions (seeded) of {n_decode}", "decode", a["sampled"], b["sampled"]),
                    measure(f"beam captions (width 3) of {n_decode}", "decode", a["beam"], b["beam"]),
                    measure("beam scores of the same captions", "pass",
                            [a["beam_scores"][n] for n in same], [b["beam_scores"][n] for n in same])]

        paths.append(Path("captioning", f"{label}: greedy, sampled, beam decoding", decode_run, decode_compare,
                          decode_weights))
    return paths


# ------------------------------------------------------------------ char LM

def _charrnn_paths(fx: Fixtures) -> list[Path]:
    from ..charrnn.lm import CharLM, LMConfig
    from ..charrnn.lm_train import COURSE_LM, LMTrainer, TrainConfig
    iters = 10 if fx.quick else 40
    lm_kwargs = dict(COURSE_LM, hidden=64, embedding=32) if fx.quick else dict(COURSE_LM)
    train = TrainConfig(batch_size=16 if fx.quick else 32, seq_length=32 if fx.quick else 64, dtype="float32",
                        eval_every=0, log_every=1, histogram_every=0, sample_every=0, checkpoint_every=0)
    init: dict[str, Any] = {}

    def prepare() -> None:
        """The text and the initial weights, on the CPU (copied into each side's trainer)."""
        if "state" not in init:
            init["lm"] = LMConfig(vocab_size=len(fx.text["vocab"]), **lm_kwargs)
            torch.manual_seed(0)
            init["state"] = CharLM(init["lm"]).state_dict()

    def run(dev: torch.device) -> Result:
        prepare()
        t, lm = fx.text, init["lm"]
        trainer = LMTrainer(t["train"], t["val"], t["vocab"], lm, train, tensorboard=False, device=dev,
                            threads=torch.get_num_threads())
        trainer.model.load_state_dict(init["state"])
        trainer.fit(iters=iters, progress=False)
        return {"loss": [v for _, _, v in trainer.history.train], "val": trainer.history.val[-1][2]}

    size = f"{lm_kwargs['layers']}x{lm_kwargs['hidden']} {lm_kwargs['cell']}"
    return [Path("charrnn", f"LMTrainer {size}, float32, {iters} steps on 'python'", run,
                 lambda a, b: [measure("training loss per step", "curve", a["loss"], b["loss"]),
                               measure("held-out nats/char", "metric", a["val"], b["val"])], prepare)]


# ------------------------------------------------------------------ sequence models

_SEQUENCE_OUTPUTS = (("logits", "logits (N, 10)"), ("steps", "step_logits (N, 8, 10)"),
                     ("bi", "2-layer bidirectional logits"), ("packed", "same, variable lengths (packed)"))


def _sequence_paths(fx: Fixtures) -> list[Path]:
    from ..sequence_models import RowRNNClassifier, evaluate_classifier, train_classifier
    paths = []
    cells = ("gru",) if fx.quick else ("rnn", "lstm", "gru")

    def build(cell: str, **kw: Any) -> torch.nn.Module:
        torch.manual_seed(0)
        return RowRNNClassifier(8, 64, 10, cell=cell, **kw).eval()

    for cell in ("rnn", "lstm", "gru"):
        def forward_run(dev: torch.device, cell=cell) -> Result:
            X, _ = fx.digits_split.tensors("test", "cpu")
            X = X[: 8 * fx.n_images].to(dev)
            lengths = torch.arange(len(X)) % 8 + 1
            uni, bi = _on(build(cell), dev), _on(build(cell, num_layers=2, bidirectional=True), dev)
            with torch.no_grad():
                return {"logits": _np(uni(X)), "steps": _np(uni.step_logits(X)),
                        "bi": _np(bi(X)), "packed": _np(bi(X, lengths))}

        paths.append(Path("sequence_models", f"RowRNNClassifier {cell}: forward", forward_run,
                          lambda a, b: [measure(what, "pass", a[k], b[k]) for k, what in _SEQUENCE_OUTPUTS],
                          lambda: fx.digits_split))

    epochs, batch = (1, 128) if fx.quick else (3, 64)
    for cell in cells:
        def train_run(dev: torch.device, cell=cell) -> Result:
            model = _on(build(cell), dev)
            with quiet():
                history = train_classifier(model, fx.digits_split, epochs=epochs, batch_size=batch, device=dev,
                                           live_plot=False, desc="gpu check")
            X, y = fx.digits_split.tensors("test", dev)
            return {"loss": history.loss, "val": history.evals["val acc"][-1],
                    "test": evaluate_classifier(model, X, y)["accuracy"]}

        paths.append(Path("sequence_models", f"train_classifier {cell}, {epochs} epoch(s), batch {batch}", train_run,
                          lambda a, b: [measure("training loss per step", "curve", a["loss"], b["loss"]),
                                        measure("val accuracy", "metric", a["val"], b["val"]),
                                        measure("test accuracy", "metric", a["test"], b["test"])],
                          lambda: fx.digits_split))
    return paths


# ------------------------------------------------------------------ synthesis

def _synthesis_paths(fx: Fixtures) -> list[Path]:
    from .. import synthesis as syn
    steps = 10 if fx.quick else 100

    def compare(a: Result, b: Result) -> list[Measure]:
        return [measure("final image", "iterate", a["image"], b["image"]),
                measure("objective per step", "objective", a["history"], b["history"])]

    def class_vis(dev: torch.device) -> Result:
        model = _on(fx.digits_cnn, dev)
        x, _ = fx.batch
        stepped, before = syn.class_visualization_step(model, x[:1].to(dev), 3)
        _, hist = syn.class_visualization(model, 3, size=32, steps=steps, progress=False)
        return {"step": _np(stepped), "objective": before, "final": hist[-1]}

    def class_vis_compare(a: Result, b: Result) -> list[Measure]:
        return [measure("one step from a test image", "gradient", a["step"], b["step"]),
                measure("its objective", "pass", a["objective"], b["objective"]),
                measure(f"final objective after {steps} steps from black", "climb", a["final"], b["final"])]

    def dream(dev: torch.device) -> Result:
        x, _ = fx.batch
        img, hist = syn.deep_dream(_on(fx.digits_cnn, dev), x[:1].to(dev), "relu2", steps=steps // 2,
                                   progress=False)
        return {"image": _np(img), "history": hist}

    def style(dev: torch.device) -> Result:
        x, _ = fx.batch
        x = x.to(dev)
        img, hist = syn.synthesize(syn.cnn_features(_on(fx.digits_cnn, dev)), style=x[1:2], content=x[:1],
                                   steps=steps // 2, progress=False)
        return {"image": _np(img), "history": hist}

    device_noise = "starts from noise drawn by the device's own generator (torch.randn on the device)"
    return [Path("synthesis", f"class_visualization_step; class_visualization, {steps} steps", class_vis,
                 class_vis_compare, fx.prepare_cnn),
            Path("synthesis", f"deep_dream at relu2, {steps // 2} steps", dream, compare, fx.prepare_cnn),
            Path("synthesis", f"synthesize: style transfer, {steps // 2} Adam steps", style, compare, fx.prepare_cnn),
            Path("synthesis", "invert_features", skip=device_noise),
            Path("synthesis", "synthesize: texture from noise", skip=device_noise)]


_BUILDERS: dict[str, Callable[[Fixtures], list[Path]]] = {
    "cnn": _cnn_paths, "attribution": _attribution_paths, "adversarial": _adversarial_paths,
    "captioning": _captioning_paths, "charrnn": _charrnn_paths, "sequence_models": _sequence_paths,
    "synthesis": _synthesis_paths,
}


def build_paths(fixtures: Fixtures, groups: tuple[str, ...] = GROUPS) -> list[Path]:
    """The paths of ``groups`` (default: all of :data:`GROUPS`), in that order."""
    unknown = [g for g in groups if g not in _BUILDERS]
    if unknown:
        raise ValueError(f"unknown group(s) {unknown}; choose from {list(GROUPS)}")
    return [p for g in groups for p in _BUILDERS[g](fixtures)]
