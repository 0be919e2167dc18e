"""Corpora: tinyshakespeare's known figures, code corpora built deterministically offline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from course_utils.data import CharVocab, load_corpus
from course_utils.data.corpora import corpus_path, load_code_corpus


@pytest.mark.skipif(not corpus_path("shakespeare").exists(),
                    reason="tinyshakespeare not cached (CI seeds it: course data add shakespeare PATH)")
def test_tinyshakespeare_figures():
    text = load_corpus("shakespeare", download=False)
    vocab = CharVocab.from_text(text)
    assert len(text) == 1_115_394
    assert len(vocab) == 65
    assert round(25 * math.log(len(vocab)), 2) == 104.36  # min-char-rnn's initial smooth loss


def test_python_corpus_is_deterministic_ascii_and_capped():
    a = load_corpus("python", max_chars=50_000)
    b = load_code_corpus("python", max_chars=50_000)
    assert a == b and len(a) == 50_000 and a.isascii()
    assert "def " in a and "\t" not in a


@pytest.mark.skipif(not Path("/usr/include").is_dir(), reason="no C headers on this machine")
def test_c_corpus_has_c_code():
    text = load_corpus("c", max_chars=20_000)
    assert len(text) == 20_000 and "#" in text


def test_bad_corpus_requests():
    with pytest.raises(ValueError, match="unknown"):
        load_corpus("klingon")
    with pytest.raises(ValueError):
        load_code_corpus("python", max_chars=0)
