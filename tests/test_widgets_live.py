"""live() in a kernel with a frontend (figures returned or drawn with plt reach the output) and headless;
normalise() leaves finished progress bars and text instead of widget views."""

from __future__ import annotations

import ipywidgets as widgets
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_utils.notebooks import normalise, progress_text

SETUP = ("from course_utils.plotting import setup_notebook, heatmap\n"
         "import numpy as np, ipywidgets as widgets, matplotlib.pyplot as plt\n"
         "from course_utils.widgets import live\n"
         "rng = setup_notebook()")
CELLS = [
    SETUP,
    "live(lambda t: heatmap(np.eye(3) * t, title=f't={t}'), t=widgets.IntSlider(value=2, min=0, max=4, description='time step'))",
    "def f(temperature=0.7):\n    fig, ax = plt.subplots()\n    ax.plot([0, 1], [0, temperature])\n"
    "    print(f'temperature {temperature}')\n"
    "live(f, temperature=widgets.FloatSlider(value=0.7, min=0.1, max=2.0, step=0.1, description='temperature'))",
    "def g(k=1):\n    fig, ax = plt.subplots()\n    ax.plot([0, 1], [0, k])\n    return fig\nlive(g, k=(1, 5))",
    "import warnings; warnings.simplefilter('ignore', DeprecationWarning)\n"
    "sliders = [w for w in widgets.Widget.widgets.values() if isinstance(w, widgets.IntSlider) and w.description == 'time step']\n"
    "sliders[0].value = 3\n"
    "print([(w.description, w.style.description_width) for w in widgets.Widget.widgets.values()\n"
    "       if isinstance(w, (widgets.IntSlider, widgets.FloatSlider))])",
]


def _run(monkeypatch, headless: bool):
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_HEADLESS", "1" if headless else "0")
    nb = new_notebook(cells=[new_code_cell(c) for c in CELLS])
    # Under pytest's output capture, a cell that displays a plotly figure inside an Output widget gets no
    # "idle" message and nbclient waits out its whole timeout before going on (with `pytest -s` it does not;
    # the cause is not found). The outputs asserted below are complete either way; a shorter timeout keeps
    # that wait at 30 s instead of 120 (the slowest cell, the imports, takes about 5 s).
    client = NotebookClient(nb, timeout=30, kernel_name="python3")
    client.execute()
    return nb, client.widget_state


def _outputs_of_output_widgets(state):
    return [s.get("outputs", []) for s in state.values() if s.get("_model_name") == "OutputModel"]


@pytest.mark.slow
def test_frontend_shows_returned_and_pyplot_figures_and_rerenders(monkeypatch):
    nb, state = _run(monkeypatch, headless=False)
    outs = _outputs_of_output_widgets(state)
    assert len(outs) == 3
    kinds = [[sorted(o.get("data", {})) or o["output_type"] for o in out] for out in outs]
    # returned plotly figure (re-rendered for t=3), printed text + pyplot figure, returned pyplot figure (once)
    plotly = [o for out in outs for o in out if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(plotly) == 1 and plotly[0]["data"]["application/vnd.plotly.v1+json"]["layout"]["title"]["text"] == "t=3"
    assert ["stream", ["image/png", "text/plain"]] in kinds
    assert [["image/png", "text/plain"]] in kinds
    # nothing leaks out of the widgets into the cells' own outputs, and the repr is a readable line
    for cell in nb.cells[1:4]:
        assert [sorted(o.get("data", {})) for o in cell.outputs] == [["application/vnd.jupyter.widget-view+json", "text/plain"]]
        assert cell.outputs[0]["data"]["text/plain"].startswith("Interactive controls (run the notebook to use them): ")
    printed = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    assert "('time step', 'initial')" in printed and "('temperature', 'initial')" in printed


@pytest.mark.slow
def test_headless_renders_the_initial_state_as_plain_output(monkeypatch):
    nb, _ = _run(monkeypatch, headless=True)
    plotly = nb.cells[1].outputs[1]["data"]["application/vnd.plotly.v1+json"]
    assert plotly["layout"]["title"]["text"] == "t=2"
    assert nb.cells[1].outputs[0]["data"]["text/plain"] == \
        "Interactive controls (run the notebook to use them): time step = 2"
    assert [o["output_type"] for o in nb.cells[2].outputs] == ["display_data", "stream", "display_data"]
    assert "image/png" in nb.cells[3].outputs[1]["data"] and len(nb.cells[3].outputs) == 2   # returned figure once


def _tqdm_state(left: str, value: float, total: float, right: str) -> dict:
    return {"box": {"_model_name": "HBoxModel", "children": ["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]},
            "l": {"_model_name": "HTMLModel", "value": left},
            "p": {"_model_name": "FloatProgressModel", "value": value, "max": total},
            "r": {"_model_name": "HTMLModel", "value": right}}


def test_progress_text_reads_the_final_state():
    st = _tqdm_state("training:\u2007100%", 570, 570, "\u2007570/570\u2007[00:02&lt;00:00,\u2007250.00it/s]")
    assert progress_text(st, "box") == "training: 100%|██████████| 570/570 [00:02<00:00, 250.00it/s]"
    half = _tqdm_state("x: 50%", 5, 10, " 5/10 [00:01<00:01]")
    assert progress_text(half, "box") == "x: 50%|█████     | 5/10 [00:01<00:01]"
    assert progress_text({"box": {"_model_name": "VBoxModel"}}, "box") is None


def test_normalise_replaces_widget_views_and_drops_state():
    nb = new_notebook(cells=[new_code_cell("x")])
    view = "application/vnd.jupyter.widget-view+json"
    nb.cells[0].outputs = [
        nbformat.v4.new_output("display_data", data={view: {"model_id": "box", "version_major": 2, "version_minor": 0},
                                                     "text/plain": "training:   0%|          | 0/570 [00:00<?, ?it/s]"}),
        nbformat.v4.new_output("display_data", data={view: {"model_id": "other", "version_major": 2, "version_minor": 0},
                                                     "text/plain": "Interactive controls (run the notebook to use them): t = 2"}),
        nbformat.v4.new_output("display_data", data={view: {"model_id": "gone", "version_major": 2, "version_minor": 0}}),
    ]
    state = {k: {"model_name": v["_model_name"], "state": v} for k, v in
             _tqdm_state("training: 100%", 570, 570, " 570/570 [00:02<00:00]").items()}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2, "version_minor": 0}}
    normalise(nb)
    assert "widgets" not in nb.metadata
    texts = [o["data"] for o in nb.cells[0].outputs]
    assert all(list(d) == ["text/plain"] for d in texts)
    assert texts[0]["text/plain"] == "training: 100%|██████████| 570/570 [00:02<00:00]"
    assert texts[1]["text/plain"].endswith("t = 2")
    assert "run the notebook" in texts[2]["text/plain"]


def test_sanitizer_makes_first_and_finished_bar_equal(course_root):
    import configparser
    import re

    cfg = configparser.RawConfigParser()   # as nbval reads it
    cfg.read(course_root / "tests" / "nbval_sanitize.cfg")
    def sanitize(text: str) -> str:
        for sec in cfg.sections():
            text = re.sub(cfg[sec]["regex"], cfg[sec]["replace"], text)
        return text
    assert sanitize("training:   0%|          | 0/570 [00:00<?, ?it/s]") == \
        sanitize("training: 100%|██████████| 570/570 [00:02<00:00, 176.86it/s, loss=0.001]")
    assert sanitize("min-char-rnn: 0it [00:00, ?it/s]") == sanitize("min-char-rnn: 12345it [00:10, 1234.50it/s]")


def test_selection_with_a_none_option_can_select_it():
    """ipywidgets cannot select an option whose value is None (TraitError); live() selects by position."""
    from course_utils.widgets import _make_control, _value, controls_summary

    c = _make_control("clip", widgets.SelectionSlider(options=[None, 0.5, 1.0], value=1.0, description="threshold c"), None)
    assert _value(c) == 1.0 and controls_summary({"clip": c}).endswith("threshold c = 1")
    c.index = 0                                     # what the browser sends when the slider moves to "None"
    assert _value(c) is None and c.label == "None"


def _lecture_cell(nb, defines: str) -> str:
    """The source of the lecture's code cell that defines ``defines`` (a function name)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and f"def {defines}(" in cell.source:
            return cell.source
    raise AssertionError(f"no code cell of lecture 01 defines {defines}()")


def _extremes(control):
    """The values worth trying for a control: every option of a dropdown, both ends and the start of a slider."""
    if isinstance(control, widgets.Dropdown):
        return list(control.options)
    return sorted({control.min, control.value, control.max})


@pytest.mark.full
def test_lecture01_widgets_accept_every_extreme_value(monkeypatch, course_root):
    """Lecture 01's occlusion widget and explorer: each control at each extreme, against the others at theirs,
    runs without error (stride > patch included), and an absent digit is named in the explorer's title."""
    import itertools

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    import course_utils.widgets
    from course_utils.cnn import cnn_data, load_cnn
    from course_utils.data import make_scenes

    monkeypatch.setenv("COURSE_HEADLESS", "1")
    recorded = {}
    monkeypatch.setattr(course_utils.widgets, "live", lambda fn, **controls: recorded.__setitem__(fn.__name__, controls))
    nb = nbformat.read(course_root / "lectures" / "01_cnn_visualisation.ipynb", as_version=4)
    model, _ = load_cnn("digits")
    scenes_model, _ = load_cnn("scenes")
    X_test, y_test = cnn_data("digits", "test")
    ns = {"model": model, "scenes_model": scenes_model, "X_test": X_test, "y_test": y_test, "device": torch.device("cpu"),
          "scenes": make_scenes(1000, split="test", canvas=64, seed=0)[:150]}
    exec("import ipywidgets as widgets, numpy as np, torch, matplotlib.pyplot as plt\n"
         "from course_utils.attribution import *\nfrom course_utils.cnn import predict_proba\n"
         "from course_utils.widgets import live\n", ns)
    for name in ("show_occlusion", "explore"):
        exec(_lecture_cell(nb, name), ns)
    assert set(recorded) == {"show_occlusion", "explore"}
    for name, controls in recorded.items():
        fn = ns[name]
        names = list(controls)
        for values in itertools.product(*(_extremes(controls[n]) for n in names)):
            kwargs = dict(zip(names, values))
            if name == "explore" and kwargs["method_a"] != kwargs["method_b"]:
                continue                                 # every method at every extreme of the other controls
            fn(**kwargs)
            plt.close("all")
    absent = next(d for d in range(10) if not ns["scenes"].labels[0, d])
    ns["explore"]("scenes", 0, absent, "saliency", "Grad-CAM")
    assert "NOT in this scene" in plt.gcf().axes[0].get_title()
    plt.close("all")
