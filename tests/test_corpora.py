"""Corpora: tinyshakespeare's known figures, code corpora built deterministically offline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from course_utils.data import CharVocab, CorpusNotAvailable, load_corpus
from course_utils.data.corpora import build_code_corpus, corpus_path, load_code_corpus


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


def test_c_corpus_is_shipped_c_code_that_needs_no_usr_include(monkeypatch):
    import course_utils.data.corpora as corpora
    monkeypatch.setattr(corpora, "_code_files", lambda *a, **k: [])      # as on a machine with no /usr/include
    text = load_corpus("c", max_chars=20_000)
    assert len(text) == 20_000 and text.isascii() and "SELECT" in text and "{" in text
    assert len(load_corpus("c")) == 334_028        # all of it when asked for more than there is


def test_build_code_corpus_reads_a_folder_in_sorted_order(tmp_path):
    (tmp_path / "b.c").write_text("int b;\tx\n")
    (tmp_path / "a.h").write_text("#define A 1")
    (tmp_path / "z.c").write_bytes("int \u00e9;\n".encode())          # not ASCII: skipped
    assert build_code_corpus("c", root=tmp_path) == "#define A 1\nint b;  x\n"
    with pytest.raises(CorpusNotAvailable):
        build_code_corpus("c", root=tmp_path / "empty")
    import sys
    if sys.version_info[:3] == (3, 11, 7):       # the release the shipped Python text was read from
        assert build_code_corpus("python", max_chars=1_000_000) == load_code_corpus("python")


def test_a_damaged_shipped_corpus_says_how_to_restore_it(tmp_path, monkeypatch):
    import course_utils.data.corpora as corpora
    (tmp_path / "c-sqlite-select.txt.gz").write_bytes(b"not gzip")
    monkeypatch.setattr(corpora, "SHIPPED_DIR", tmp_path)
    with pytest.raises(CorpusNotAvailable, match="git checkout -- data/corpora"):
        load_corpus("c")


def test_bad_corpus_requests():
    with pytest.raises(ValueError, match="unknown"):
        load_corpus("klingon")
    with pytest.raises(ValueError):
        load_code_corpus("python", max_chars=0)
