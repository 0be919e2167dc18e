"""The captioning set: grammar, vocabulary, facts, determinism and the checksummed cache."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.data.captions import (
    CaptionVocab, caption_facts, clear_of_borders, describe, fact_scores, load_captions, position_name,
    reference_captions, relation_of, scene_facts)
from course_utils.data.scenes import SceneObject


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    import os
    os.environ["COURSE_DATA_DIR"] = str(tmp_path_factory.mktemp("cache"))
    try:
        yield load_captions(n_train=40, n_val=10, n_test=10, refs_per_image=3)
    finally:
        del os.environ["COURSE_DATA_DIR"]


SEVEN = SceneObject(7, (2, 2, 30, 30), "large")        # centre (16, 16): top left
TWO = SceneObject(2, (44, 40, 60, 56), "small")        # centre (52, 48): bottom right
MIDDLE = SceneObject(4, (24, 24, 40, 40), "small")     # centre (32, 32): centre


def test_positions_and_relations():
    assert position_name(SEVEN) == "top left" and position_name(TWO) == "bottom right"
    assert position_name(MIDDLE) == "centre"
    assert relation_of(SEVEN, TWO) == "above" and relation_of(TWO, SEVEN) == "below"
    assert relation_of(SceneObject(1, (20, 0, 30, 10), "small"), SceneObject(2, (22, 40, 32, 50), "small")) == "to the left of"
    assert clear_of_borders([SEVEN, TWO]) and not clear_of_borders([SceneObject(1, (12, 0, 32, 20), "small")])


def test_every_reference_states_every_fact():
    rng = np.random.default_rng(0)
    for objs in ([SEVEN], [SEVEN, TWO], [SEVEN, TWO, MIDDLE]):
        refs = reference_captions(objs, 64, 5, rng)
        assert len(refs) == 5 and len(set(refs)) == 5
        for cap in refs:
            facts = caption_facts(cap)
            assert scene_facts(objs) <= facts, cap
            assert fact_scores([cap], [objs]) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_parser_reads_the_grammar():
    facts = caption_facts("two digits : a big seven in the top left corner above a little two at the bottom right")
    assert facts == {("count", 2), ("digit", 7), ("size", 7, "large"), ("position", 7, "top left"),
                     ("digit", 2), ("size", 2, "small"), ("position", 2, "bottom right"),
                     ("relation", 7, "above", 2)}
    assert caption_facts("a small two below a large seven") >= {("relation", 2, "below", 7)}
    assert caption_facts("") == set()


def test_fact_scores_count_wrong_and_missing_facts():
    # wrong size, right position, the two is missing
    s = fact_scores(["a small seven at the top left"], [[SEVEN, TWO]])
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 6)
    # a false relation and a false count lower the precision only
    s = fact_scores(["three digits : a large seven at the top left below a small two in the bottom right corner"], [[SEVEN, TWO]])
    assert s["recall"] == 1.0 and s["precision"] == pytest.approx(6 / 8)
    with pytest.raises(ValueError):
        fact_scores(["a"], [])


def test_vocab_encode_decode():
    v = CaptionVocab.from_captions(["a big seven", "a small two"])
    assert v.idx_to_word[:4] == ("<NULL>", "<START>", "<END>", "<UNK>")
    ids = v.encode("a big nine", length=7)
    assert ids[0] == v.start and ids[4] == v.end and list(ids[5:]) == [0, 0] and ids[3] == v.unk
    assert v.decode(ids) == "a big <UNK>"
    assert v.decode([1, v.word_to_idx["a"], 2, v.word_to_idx["big"]]) == "a"
    with pytest.raises(ValueError):
        v.encode("a big seven", length=3)
    with pytest.raises(ValueError):
        CaptionVocab(("a", "b"))


def test_dataset_is_deterministic_and_cached(small, tmp_path, monkeypatch):
    d = small
    assert (len(d.train), len(d.val), len(d.test)) == (40, 10, 10)
    assert d.train.ids.shape[:2] == (40, 3) and d.train.ids.dtype == np.int64
    assert (d.train.ids[:, :, 0] == 1).all()
    for split in (d.train, d.test):
        for objs in split.scenes.objects:
            assert 1 <= len(objs) <= 3 and clear_of_borders(objs)
        for refs, objs in zip(split.references, split.scenes.objects):
            assert fact_scores(refs, [objs] * len(refs))["f1"] == 1.0
    for refs, ids in zip(d.train.references, d.train.ids):
        assert [d.vocab.decode(r) for r in ids] == refs
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    a = load_captions(n_train=40, n_val=10, n_test=10, refs_per_image=3)
    b = load_captions(n_train=40, n_val=10, n_test=10, refs_per_image=3)
    assert not a.cached and b.cached and a.sha256 == b.sha256 == d.sha256
    assert np.array_equal(a.test.images, b.test.images) and a.test.references == b.test.references
    # a corrupted cache file is detected and rebuilt
    npz = next(tmp_path.glob("captions/captions-*.npz"))
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["train_ids"][0, 0, 1] += 1
    np.savez(npz, **arrays)
    c = load_captions(n_train=40, n_val=10, n_test=10, refs_per_image=3)
    assert not c.cached and c.sha256 == d.sha256


def test_statistics_and_errors(small, capsys):
    st = small.statistics()
    assert st["train"]["captions per image"] == 3 and st["vocabulary"] == len(small.vocab)
    assert sum(st["length histogram"].values()) == 3 * 60
    small.print_statistics()
    out = capsys.readouterr().out
    assert "60 images (40 train / 10 val / 10 test), 180 captions, 3 per image" in out
    with pytest.raises(ValueError):
        load_captions(n_train=0)
    with pytest.raises(ValueError):
        small.split("dev")
    with pytest.raises(ValueError):
        describe([])
