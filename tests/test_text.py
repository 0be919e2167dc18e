"""Character vocabularies, encoding and window batching."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.data import CharVocab, batch_windows, train_val_split


def test_roundtrip_and_order():
    v = CharVocab.from_text("hello world")
    assert v.chars == sorted(set("hello world"))
    ids = v.encode("hello")
    assert ids.dtype == np.int64 and v.decode(ids) == "hello"
    assert v.one_hot(ids).shape == (5, len(v))
    assert CharVocab.from_json(v.to_json()) == v


def test_unknown_characters_are_named():
    v = CharVocab.from_text("abc")
    with pytest.raises(ValueError, match=r"'xz'.*position 1"):
        v.encode("axbz")


def test_empty_and_bad_inputs():
    with pytest.raises(ValueError, match="empty"):
        CharVocab.from_text("")
    with pytest.raises(ValueError):
        CharVocab(["ab"])
    with pytest.raises(ValueError, match="0..2"):
        CharVocab.from_text("abc").decode([3])
    with pytest.raises(ValueError, match="empty"):
        train_val_split("")


def test_split_keeps_all_text():
    train, val = train_val_split("abcdefghij", 0.2)
    assert (train, val) == ("abcdefgh", "ij")


def test_windows_are_shifted_by_one():
    data = np.arange(100)
    x, y = batch_windows(data, batch_size=4, seq_length=7, rng=np.random.default_rng(0))
    assert x.shape == y.shape == (4, 7)
    np.testing.assert_array_equal(y, x + 1)


def test_windows_need_enough_data():
    with pytest.raises(ValueError, match="seq_length \\+ 1 = 11"):
        batch_windows(np.arange(10), 2, 10)
