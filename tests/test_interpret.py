"""Interpretability tools of unit 6: text features, correlations, saturation, the char-LSTM."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from course_utils import interpret
from course_utils.data import CharVocab


def test_in_string_marks_literals_with_their_quotes():
    t = "a = 'xy' + \"z\"\n"
    assert "".join("1" if v else "0" for v in interpret.in_string(t)) == "000011110001110"
    # escapes, the other quote inside a string, comments, triple quotes spanning lines
    t = r"s = 'a\'b\"c' # it's" + "\n" + 'd = """x\n"y"\n""" + u'
    got = interpret.in_string(t)
    first = t.index("'")
    assert got[first:first + 9].all() and got[first + 9:t.index("\n")].sum() == 0
    start, end = t.index('"""'), t.rindex('"""') + 3
    assert got[start:end].all() and got[end:].sum() == 0


def test_in_string_closes_an_unterminated_one_line_string_at_the_newline():
    got = interpret.in_string("x = 'abc\ny = 1\n")
    assert got[4:8].all() and got[9:].sum() == 0


def test_column_line_length_indent_and_brackets():
    t = "def f(a,\n      b):\n    return [a,\n\n        b]\n"
    np.testing.assert_array_equal(interpret.column("ab\ncd"), [0, 1, 2, 0, 1])
    np.testing.assert_array_equal(interpret.line_length("ab\ncde"), [2, 2, 2, 3, 3, 3])
    depth = interpret.indent_depth(t)
    assert depth[0] == 0 and depth[t.index("return")] == 1 and depth[t.rindex("b")] == 2
    assert depth[t.index("\n\n") + 1] == 0                      # a blank line
    pd = interpret.paren_depth(t)
    assert pd[t.index("(")] == 1 and pd[t.index(")")] == 1 and pd[t.index(")") + 1] == 0
    assert pd[t.index("return")] == 0 and pd[t.rindex("b")] == 1
    assert interpret.paren_depth("x = '(' # (\ny")[-1] == 0     # brackets in strings/comments do not count


def test_correlations_and_best_cells():
    text = "ab'cd'ef'gh'\n" * 3
    s = interpret.in_string(text)
    acts = np.stack([np.zeros(len(text)), 2 * s - 1 + 0.01 * np.arange(len(text)) % 1, -interpret.column(text)], axis=1)
    r = interpret.correlations(acts, s)
    assert r[0] == 0 and r[1] > 0.99
    best = {m.feature: m for m in interpret.best_cells(acts, text)}
    assert best["inside a string"].cell == 1
    assert best["column"].cell == 2 and best["column"].r == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="characters"):
        interpret.best_cells(acts[:-1], text)
    with pytest.raises(ValueError, match=r"\(T, H\)"):
        interpret.correlations(acts[:, 0], s)


def test_saturation_fractions():
    gate = np.array([[0.05, 0.5], [0.95, 0.5], [0.02, 0.91], [0.5, 0.99]])
    left, right = interpret.saturation(gate)
    np.testing.assert_allclose(left, [0.5, 0.0])
    np.testing.assert_allclose(right, [0.25, 0.5])


def test_show_text_draws_one_patch_per_character():
    ax = interpret.show_text("ab\ncd", np.array([-1, 0, 1, 0.5, 2.0]), width=10, title="t")
    assert len(ax.patches) == 5 and len(ax.texts) == 4
    with pytest.raises(ValueError, match="one value per character"):
        interpret.show_text("ab", np.zeros(3))


def test_char_lstm_trains_and_exposes_states():
    text = "def f(x):\n    return 'x'\n" * 40
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    torch.manual_seed(0)
    model = interpret.CharLSTM(len(vocab), hidden=16, embed=8)
    before = interpret.evaluate_char_lstm(model, ids, device="cpu")
    hist = interpret.train_char_lstm(model, ids, ids, steps=60, batch_size=8, seq_length=20, lr=1e-2,
                                     eval_every=30, device="cpu", live_plot=False)
    assert hist.evals["val loss"][-1] < before - 0.5
    st = interpret.lstm_states(model, ids[:50])
    assert set(st) == {"h", "c", "tanh_c", "i", "f", "g", "o"} and st["c"].shape == (50, 16)
    with torch.no_grad():
        out, _ = model.lstm(model.embed(torch.as_tensor(ids[None, :50], dtype=torch.long)))
    assert np.abs(st["h"] - out[0].double().numpy()).max() < 1e-5


def test_comment_and_if_header_features():
    text = "x = '#no'  # yes\nif (a and\n        b):\n    y = 1\nelif c:  # c\n    pass\n"
    comment = interpret.in_comment(text)
    marked = "".join(ch for ch, v in zip(text, comment) if v)
    assert marked == "# yes# c"
    header = interpret.in_if_header(text)
    marked = "".join(ch for ch, v in zip(text, header) if v)
    assert marked == "if (a and\n        b):\nelif c:  # c\n"
    assert set(interpret.FEATURES) >= {"inside a comment", "if-statement header", "indentation depth"}
