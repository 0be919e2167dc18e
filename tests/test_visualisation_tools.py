"""Unit 1's other tools: attribution metrics, receptive fields, embeddings and optimisation to image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils import attribution_metrics as am
from course_utils import synthesis as syn
from course_utils.attribution import Neuron, Saliency
from course_utils.cnn import DigitCNN
from course_utils.embedding import embed, knn_accuracy
from course_utils.receptive_fields import crop, receptive_field, top_patches


def _model(seed: int = 0) -> DigitCNN:
    torch.manual_seed(seed)
    model = DigitCNN()
    with torch.no_grad():
        model.train()
        model(torch.rand(16, 1, 32, 32))
    return model.eval()


# ---------------------------------------------------------------- pointing game, rank correlation, randomisation

def test_pointing_game_hits_and_chance():
    maps = np.zeros((3, 8, 8))
    maps[0, 2, 3] = 1          # inside box 0
    maps[1, 7, 7] = 1          # outside box 1
    maps[2, 4, 1] = 1          # one pixel left of box 2: a hit only with tolerance 1
    boxes = [(1, 1, 4, 4), (0, 0, 4, 4), (3, 2, 6, 6)]
    np.testing.assert_array_equal(am.pointing_game(maps, boxes), [True, False, False])
    np.testing.assert_array_equal(am.pointing_game(maps, boxes, tolerance=1), [True, False, True])
    assert am.chance_hit_rate([(0, 0, 4, 4), (0, 0, 8, 8)], (8, 8)) == pytest.approx((16 / 64 + 1) / 2)
    with pytest.raises(ValueError, match="N = 2 boxes"):
        am.pointing_game(maps, boxes[:2])


def test_random_maps_score_the_chance_rate():
    rng = np.random.default_rng(0)
    boxes = [(int(t), int(l), int(t) + 16, int(l) + 16) for t, l in rng.integers(0, 48, (4000, 2))]
    hits = am.pointing_game(rng.random((4000, 64, 64)), boxes)
    assert abs(hits.mean() - am.chance_hit_rate(boxes, (64, 64))) < 0.02


def test_rank_correlation_is_spearman():
    from scipy.stats import spearmanr
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 6)), rng.random((5, 6))
    b[0] = a[0]                                           # some ties and shared structure
    assert am.rank_correlation(a, b) == pytest.approx(spearmanr(a.ravel(), b.ravel()).statistic)
    assert am.rank_correlation(a, 3 * a + 1) == pytest.approx(1.0)
    assert am.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert am.rank_correlation(a, np.ones_like(a)) == 0.0
    with pytest.raises(ValueError, match="same number"):
        am.rank_correlation(a, b[:2])


def test_cascading_randomization_changes_exactly_the_named_layers():
    model = _model()
    cascade = am.cascading_randomization(model, [["classifier"], ["conv3", "bn3"]], seed=0)
    assert [label for label, _ in cascade] == ["up to classifier", "up to conv3"]
    first, second = cascade[0][1], cascade[1][1]
    assert not torch.equal(first.classifier.weight, model.classifier.weight)
    assert torch.equal(first.features.conv3.weight, model.features.conv3.weight)
    assert not torch.equal(second.features.conv3.weight, model.features.conv3.weight)
    assert torch.equal(second.features.conv2.weight, model.features.conv2.weight)
    assert torch.equal(second.features.bn3.running_mean, torch.zeros(64))
    assert not model.training and not second.training
    with pytest.raises(ValueError, match="no parameters"):
        am.randomize_layers(model, ["relu1"])


def test_shuffled_label_training_runs_and_reports():
    X = torch.rand(40, 1, 8, 8)
    y = torch.arange(40) % 4
    model, info = am.train_on_shuffled_labels(lambda: DigitCNN(num_classes=4, channels=(4, 4, 4)), X, y, epochs=3,
                                              batch_size=8, progress=False)
    assert 0 <= info["train_accuracy"] <= 1 and info["seconds"] > 0 and not model.training


# ---------------------------------------------------------------- receptive fields and patches

def test_receptive_field_arithmetic_matches_gradient_support():
    model = _model()
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    expected = {"conv1": (3, 1), "pool1": (4, 2), "conv2": (8, 2), "conv3": (18, 4), "pool3": (22, 8)}
    for name, (size, jump) in expected.items():
        rf = receptive_field(model, name)
        assert (rf.size, rf.jump) == (size, jump)
    for name, (i, j) in [("conv2", (4, 5)), ("conv3", (3, 4))]:
        rf = receptive_field(model, name)
        g = Saliency(model).attribute(x, Neuron(name, 0, i, j))[0, 0].numpy()
        rows, cols = np.nonzero(g)
        t, l, b, r = rf.box(i, j)
        assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (max(t, 0), min(b, 32), max(l, 0), min(r, 32))
    with pytest.raises(KeyError, match="conv7"):
        receptive_field(model, "conv7")


def test_crop_pads_outside_the_image_and_top_patches_are_sorted():
    img = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(crop(img, (-1, -1, 1, 1)), [[0, 0], [0, 0.0]])
    np.testing.assert_array_equal(crop(img, (2, 2, 4, 4)), img[2:, 2:])
    model = _model()
    X = torch.rand(12, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    patches, values, where = top_patches(model, X, "relu2", channel=3, k=5)
    assert patches.shape == (5, 8, 8) and np.all(np.diff(values) <= 0)
    assert len({n for n, _, _ in where}) == 5             # one patch per image


# ---------------------------------------------------------------- embeddings

def test_knn_accuracy_and_embed():
    Z = np.array([[0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10.0]])
    y = np.array([0, 0, 0, 1, 1, 1])
    assert knn_accuracy(Z, y, k=2) == 1.0
    assert knn_accuracy(Z, 1 - y[[3, 0, 1, 2, 4, 5]], k=1) < 1.0
    X = np.random.default_rng(0).normal(size=(30, 5))
    Z, seconds = embed(X, "pca")
    assert Z.shape == (30, 2) and seconds >= 0
    with pytest.raises(ValueError, match="pca"):
        embed(X, "umap")


# ---------------------------------------------------------------- optimisation to image

def test_gram_matrix_and_style_loss():
    F = torch.rand(2, 3, 4, 5)
    G = syn.gram_matrix(F)
    Fm = F.reshape(2, 3, 20)
    assert torch.allclose(G, torch.einsum("nip,njp->nij", Fm, Fm) / 20)
    assert float(syn.style_loss([F], [G])) == pytest.approx(0.0, abs=1e-12)
    A = syn.gram_matrix(torch.rand(2, 3, 4, 5))
    expected = 2.0 * ((G - A) ** 2).sum() / (A ** 2).sum()
    assert float(syn.style_loss([F], [A], [2.0])) == pytest.approx(float(expected), rel=1e-6)
    with pytest.raises(ValueError, match="target Gram"):
        syn.style_loss([F, F], [A])


def test_class_visualization_step_is_normalised_ascent():
    model = _model().double()
    img = torch.rand(1, 1, 16, 16, dtype=torch.float64)
    new, obj = syn.class_visualization_step(model, img, 3, lr=0.1, l2=0.01)
    assert float((new - img).norm()) == pytest.approx(0.1, rel=1e-9)

    def score(x):
        with torch.no_grad():
            return float(model(x)[0, 3] - 0.01 * (x ** 2).sum())
    assert obj == pytest.approx(score(img)) and score(new) > score(img)


def test_optimisation_methods_improve_their_objectives():
    model = _model()
    img, hist = syn.class_visualization(model, 2, size=16, steps=30, progress=False)
    assert img.shape == (1, 1, 16, 16) and float(img.min()) >= 0 and float(img.max()) <= 1
    assert model(img)[0, 2] > model(torch.zeros_like(img))[0, 2]
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    _, errors = syn.invert_features(model, x, "relu1", steps=60, progress=False)
    assert errors[-1] < 0.5 * errors[0]
    _, acts = syn.deep_dream(model, x, "relu2", steps=10, progress=False)
    assert acts[-1] > acts[0]
    feats = syn.RandomFilterFeatures(1, sizes=(3, 5), n_filters=8)
    out, losses = syn.synthesize(feats, x, steps=40, progress=False)
    assert out.shape == x.shape and losses[-1] < 0.5 * losses[0]


def test_blur_and_jitter():
    x = torch.rand(1, 2, 9, 9)
    assert torch.equal(syn.jitter(syn.jitter(x, 2, -3), -2, 3), x)
    b = syn.gaussian_blur(x, 1.0)
    assert b.shape == x.shape and b.std() < x.std()
    assert torch.allclose(syn.gaussian_blur(torch.ones(1, 1, 9, 9), 1.0), torch.ones(1, 1, 9, 9))


def test_load_photo_offline():
    g = syn.load_photo("coffee", size=(16, 24))
    c = syn.load_photo("brick", size=8, grey=False)
    assert g.shape == (1, 1, 16, 24) and c.shape == (1, 3, 8, 8)
    assert 0 <= float(g.min()) and float(g.max()) <= 1
    with pytest.raises(ValueError, match="no image"):
        syn.load_photo("not_a_photo")


def test_lab1_reference_sources_match_the_course_references():
    """The code the sandbox binds in place of an earlier answer equals the grader's references."""
    from course_utils.grader.labs import lab01_cnn_visualisation as lab
    from course_utils.grader.spec import Case
    rng = np.random.default_rng(0)
    for q, name in [(lab.LAB.question("q1"), "relu_backward"), (lab.LAB.question("q2"), "input_gradient")]:
        ns: dict = {}
        exec(lab.REFERENCE_SOURCES[name], ns)
        for case in q.make_cases(rng):
            np.testing.assert_allclose(ns[name](**case.kwargs), q.reference(case), rtol=1e-10, atol=1e-12)
    ns = {}
    exec(lab._provide_gram()[0][1], ns)
    for case in lab.LAB.question("q6").make_cases(rng):
        np.testing.assert_allclose(ns["gram_matrix"](**case.kwargs), lab.LAB.question("q6").reference(case), rtol=1e-12)


def test_lab1_judge_catches_inputs_changed_in_place_and_hints_at_known_mistakes():
    """Every hidden case sends its arrays back; a changed one fails even when the value is right. A wrong value
    that equals a known mistake's gets that mistake's hint, and no hint names a hidden value."""
    from course_utils.grader.labs import lab01_cnn_visualisation as lab
    rng = np.random.default_rng(1)
    for q in lab.LAB.questions:
        cases = q.make_cases(rng)
        assert all(case.returns_kwargs for case in cases)
        case = cases[-1]
        expected = q.reference(case)
        sent_back = {k: case.kwargs[k] for k in case.returns_kwargs}
        assert q.judge((expected, sent_back), expected, case)[0]
        name = case.returns_kwargs[0]
        changed = dict(sent_back)
        changed[name] = [a + 1.0 for a in sent_back[name]] if isinstance(sent_back[name], list) else sent_back[name] + 1.0
        ok, msg = q.judge((expected, changed), expected, case)
        assert not ok and f"`{name}` changed in place" in msg
        for variant, hint in lab.MISTAKES.get(q.id, ()):
            messages = []
            for case in cases:
                ok, msg = q.judge((variant(case), {k: case.kwargs[k] for k in case.returns_kwargs}), q.reference(case), case)
                if not ok:
                    messages.append(msg)
            assert messages, f"{q.id}: the mistake {hint!r} never shows on the hidden cases"
            assert all("hint: " in m for m in messages)                  # this hint, or one whose output is the same
            assert any(m.endswith("hint: " + hint) for m in messages)
    q1 = lab.LAB.question("q1")
    case = next(c for c in q1.make_cases(rng) if c.kwargs["rule"] == "backprop")
    ok, msg = q1.judge(((case.kwargs["f"] >= 0) * case.kwargs["R"], {"f": case.kwargs["f"], "R": case.kwargs["R"]}),
                       q1.reference(case), case)
    assert not ok and "f == 0" in msg


def test_lab1_public_checks_catch_an_input_changed_in_place():
    from course_utils.grader.labs import lab01_cnn_visualisation as lab
    from course_utils.grader.spec import CheckFailed
    ns: dict = {}
    exec(lab.REFERENCE_SOURCES["input_gradient"], ns)

    def class_visualization_step(img, W1, b1, W2, b2, c, lr, l2):
        g = ns["input_gradient"](img, W1, b1, W2, b2, c) - 2 * l2 * img
        img += lr * g / np.linalg.norm(g)
        return img
    with pytest.raises(CheckFailed, match="`img` in place"):
        lab.LAB.question("q5").public_check({**ns, "class_visualization_step": class_visualization_step})


# ---------------------------------------------------------------- feature visualisation (course_utils.feature_vis)

def test_random_transform_identity_and_whole_pixel_shifts():
    from course_utils.feature_vis import random_transform
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    same = random_transform(x, torch.Generator().manual_seed(1), jitter=0)
    assert torch.allclose(same, x, atol=1e-5)
    moved = random_transform(x, torch.Generator().manual_seed(1), jitter=3)
    for k in range(3):          # each image is the original shifted by whole pixels (zeros coming in)
        assert any(torch.allclose(moved[k, 0, 4:-4, 4:-4], torch.roll(x[k, 0], (dy, dx), (0, 1))[4:-4, 4:-4], atol=1e-5)
                   for dy in range(-3, 4) for dx in range(-3, 4))


def test_parameterisations_give_images_in_range():
    from course_utils.data import resize_images
    from course_utils.feature_vis import FourierParam, LowResParam, PixelParam
    gen = torch.Generator().manual_seed(0)
    for param in [PixelParam(2, 1, 16, 16, generator=gen), FourierParam(2, 1, 16, 16, generator=gen),
                  LowResParam(2, 1, 16, 16, low=4, generator=gen)]:
        x = param()
        x = x.detach()
        assert x.shape == (2, 1, 16, 16) and float(x.min()) >= 0 and float(x.max()) <= 1
    low = LowResParam(1, 1, 32, 32, low=8, sd=1.0, generator=gen)
    grid = torch.sigmoid(low.p + low.offset)[:, 0].detach().numpy()
    np.testing.assert_allclose(low()[:, 0].detach().numpy(), resize_images(grid, 32), atol=1e-6)   # as the digits


def test_high_frequency_share_and_gaussian_prior():
    from course_utils.data import load_digits_split
    from course_utils.feature_vis import GaussianPrior, high_frequency_share
    checker = (np.indices((16, 16)).sum(0) % 2).astype(float)[None]
    smooth = np.exp(-((np.indices((16, 16)) - 7.5) ** 2).sum(0) / 20)[None]
    assert high_frequency_share(checker)[0] > 0.99
    assert high_frequency_share(smooth)[0] < 0.01
    assert high_frequency_share(np.ones((1, 8, 8)))[0] == 0.0
    d = load_digits_split()
    prior = GaussianPrior(d.X_train)
    digits = torch.from_numpy(d.resized(32).X_test[:20, None])
    noise = torch.rand(20, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(prior(digits).max()) < float(prior(noise).min())
    with pytest.raises(ValueError, match="multiple"):
        prior(torch.zeros(1, 1, 30, 30))


def test_visualize_raises_the_score_and_takes_neurons():
    from course_utils.attribution import Neuron
    from course_utils.feature_vis import VisualizationSettings, neuron_objective, visualize
    torch.manual_seed(0)
    model = DigitCNN().eval()
    settings = VisualizationSettings(steps=15, prior=0.0)
    imgs, hist = visualize(model, [1, 4], settings=settings, seed=0)
    again, _ = visualize(model, [1, 4], settings=settings, seed=0)
    assert imgs.shape == (2, 1, 32, 32) and torch.equal(imgs, again)
    assert hist[-1] > hist[0]
    neurons = [Neuron("relu2", 3), Neuron("relu3", 7)]
    _, hist = visualize(model, [0, 0], settings=settings, objective=neuron_objective(neurons))
    assert hist[-1] > hist[0]
    with pytest.raises(ValueError, match="param"):
        visualize(model, [1], settings=VisualizationSettings(param="wavelets"))


# ---------------------------------------------------------------- segmentation from a saliency map

def _square_scene():
    image = np.zeros((32, 32))
    image[8:16, 18:26] = 1.0                         # the object
    image[20:28, 2:10] = 1.0                         # a distractor
    saliency = 0.1 * np.random.default_rng(0).random((32, 32))      # speckle everywhere,
    saliency[8:16, 18:26] += 1.0                                        # most on the object,
    saliency[20:28, 2:10] += 0.2                                        # a little on the distractor
    return image, saliency


@pytest.mark.parametrize("method", ["random_walker", "threshold"])
def test_saliency_segmentation_finds_the_salient_object(method):
    from course_utils.segmentation import box_iou, mask_box, saliency_segmentation
    image, saliency = _square_scene()
    mask = saliency_segmentation(saliency, image, method=method)
    assert box_iou(mask_box(mask), (8, 18, 16, 26)) > 0.5
    assert not mask[20:28, 2:10].any()


def test_boxes_and_segment_and_score():
    from course_utils.segmentation import box_iou, mask_box, saliency_segmentation, segment_and_score
    assert box_iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert box_iou((0, 0, 2, 2), (2, 2, 4, 4)) == 0.0 and box_iou(None, (0, 0, 1, 1)) == 0.0
    assert mask_box(np.zeros((4, 4), dtype=bool)) is None
    assert not saliency_segmentation(np.ones((8, 8)), np.ones((8, 8))).any()       # a flat map points nowhere
    image, saliency = _square_scene()
    out = segment_and_score(saliency[None], image[None], [(8, 18, 16, 26)])
    assert out["iou"].shape == (1,) and out["masks"].shape == (1, 32, 32) and out["iou"][0] > 0.5
    with pytest.raises(ValueError, match="image="):
        saliency_segmentation(saliency)
    with pytest.raises(ValueError, match="method"):
        saliency_segmentation(saliency, image, method="grabcut")
    with pytest.raises(ValueError, match="same"):
        saliency_segmentation(saliency, image[:5])
