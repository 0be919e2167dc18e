"""The notebook training helper and headless widgets."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from course_utils.training import fit
from course_utils.widgets import live


def test_fit_records_history_and_evaluates():
    losses = [1.0 / (i + 1) for i in range(25)]
    calls = []
    hist = fit(lambda i: losses[i], 25, evaluate=lambda: calls.append(1) or {"val loss": 0.5}, eval_every=10)
    assert hist.loss == losses and hist.steps == list(range(25))
    assert hist.eval_steps == [10, 20, 25] and hist.evals["val loss"] == [0.5] * 3
    assert hist.as_dict()["seconds"] >= 0


def test_fit_stops_on_nan():
    with pytest.raises(FloatingPointError, match="step 3"):
        fit(lambda i: float("nan") if i == 3 else 1.0, 10)


def test_live_renders_default_headless(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    seen = []
    assert live(lambda t: seen.append(t) or print(f"t = {t}"), t=widgets.IntSlider(value=2, min=0, max=4)) is None
    assert seen == [2] and "t = 2" in capsys.readouterr().out   # rendered once, with the default
