"""The shared course CNN and the digit scenes it is trained on (units 1, 2 and 7)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.cnn import CONFIGS, DigitCNN, evaluate_cnn, cnn_data, load_cnn
from course_utils.data import make_scenes, resize_images


def test_scenes_are_deterministic_and_boxes_hold_the_digits():
    a = make_scenes(50, split="val", seed=3)
    b = make_scenes(50, split="val", seed=3)
    assert np.array_equal(a.images, b.images) and a.objects == b.objects
    assert not np.array_equal(a.images, make_scenes(50, split="val", seed=4).images)
    assert a.images.shape == (50, 64, 64) and a.images.dtype == np.float32
    assert 0 <= a.images.min() and a.images.max() <= 1
    for img, objs, lab in zip(a.images, a.objects, a.labels):
        assert 1 <= len(objs) <= 3
        assert sorted(o.digit for o in objs) == sorted(np.flatnonzero(lab).tolist())
        inside = np.zeros_like(img, dtype=bool)
        for o in objs:
            t, l, b_, r = o.box
            assert 0 <= t < b_ <= 64 and 0 <= l < r <= 64
            assert img[t:b_, l:r].sum() > 5, "every box holds ink"
            inside[t:b_, l:r] = True
        assert img[~inside].max(initial=0) == 0, "no ink outside the boxes"
        for i, o in enumerate(objs):          # boxes do not overlap
            for p in objs[i + 1:]:
                assert (a.masks(0).shape[1:] == (64, 64))
                t1, l1, b1, r1 = o.box; t2, l2, b2, r2 = p.box
                assert b1 <= t2 or b2 <= t1 or r1 <= l2 or r2 <= l1


def test_scene_splits_use_their_own_digits_and_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        make_scenes(2, split="dev")
    with pytest.raises(ValueError, match="sizes"):
        make_scenes(2, sizes=("huge",))
    with pytest.raises(ValueError, match="too small"):
        make_scenes(2, canvas=20)
    assert resize_images(np.ones((2, 8, 8)), 32).shape == (2, 32, 32)


def test_cnn_shapes_and_named_layers():
    m = DigitCNN()
    x = torch.rand(2, 1, 32, 32)
    assert m(x).shape == (2, 10) and m.feature_grid(x).shape == (2, 64, 4, 4) and m.code(x).shape == (2, 64)
    assert m.feature_grid(torch.rand(1, 1, 64, 64)).shape == (1, 64, 8, 8)
    relus = [mod for mod in m.modules() if isinstance(mod, torch.nn.ReLU)]
    assert len(relus) == len({id(r) for r in relus}) == 3
    assert m.layer("conv2") is m.features.conv2
    with pytest.raises(ValueError, match="multiples of 8"):
        m(torch.rand(1, 1, 30, 30))
    with pytest.raises(KeyError, match="conv1"):
        m.layer("fc9")


@pytest.mark.slow
def test_digits_cnn_learns_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_SHIPPED_CNN_DIR", str(tmp_path / "no-shipped-weights"))
    torch.set_num_threads(1)
    model, info = load_cnn("digits", "cpu", progress=False)
    assert not info["cached"] and info["source"] == "trained" and info["test"]["accuracy"] >= 0.98
    again, info2 = load_cnn("digits", "cpu")
    assert info2["cached"] and info2["source"] == "cache"
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    X, y = cnn_data("digits", "test")
    assert evaluate_cnn(again, X, y)["accuracy"] == pytest.approx(info["test"]["accuracy"])
    # a corrupted cache file is detected and the model retrained
    weights = next((tmp_path / "cnn").glob("digits-*.pt"))
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    _, info3 = load_cnn("digits", "cpu", progress=False)
    assert not info3["cached"]
    assert json.loads(next((tmp_path / "cnn").glob("digits-*.json")).read_text())["sha256"] == info3["sha256"]
    with pytest.raises(ValueError, match="kind"):
        load_cnn("imagenet")


@pytest.mark.parametrize("kind", ["digits", "scenes"])
def test_shipped_weights_load_and_match_their_checksum(kind, tmp_path, monkeypatch):
    """Every machine loads the same committed bytes (data/cnn/), never a model trained on a first run."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))          # an empty cache: only the shipped copy
    model, info = load_cnn(kind, "cpu", progress=False)
    assert info["source"] == "shipped" and info["cached"]
    X, y = cnn_data(kind, "test")
    metrics = evaluate_cnn(model, X, y)
    for name, value in info["test"].items():      # what training recorded is what the shipped bytes give
        assert metrics[name] == pytest.approx(value, abs=2e-3)
    assert not list((tmp_path / "cnn").glob("*.pt"))     # loading never writes the cache
    # a different model in the cache (an old local retrain) never shadows the shipped bytes
    other = DigitCNN(pool=model.pool_kind)
    buf = io.BytesIO()
    torch.save(other.state_dict(), buf)
    stem = next(Path(__file__).resolve().parents[1].joinpath("data", "cnn").glob(f"{kind}-*.pt")).stem
    (tmp_path / "cnn" / f"{stem}.pt").write_bytes(buf.getvalue())
    (tmp_path / "cnn" / f"{stem}.json").write_text(json.dumps({"sha256": hashlib.sha256(buf.getvalue()).hexdigest()}))
    again, info2 = load_cnn(kind, "cpu", progress=False)
    assert info2["source"] == "shipped"
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
