"""Interactive controls that show what the function draws, in JupyterLab and with no frontend at all.

:func:`live` shows ipywidgets controls that re-run a function, like ``ipywidgets.interact``, with
what ``ipywidgets.interactive`` does not do:

* the function's **return value** is displayed (a plotly or matplotlib figure, a DataFrame ...),
  and matplotlib figures drawn with ``plt`` appear too, inside the output area under the controls;
* labels are never cut ("temperature" stays readable: ``description_width='initial'``);
* the controls carry a short text line instead of ``VBox(children=(IntSlider(...)))``, which is what a
  reader sees where widgets cannot live (GitHub, nbviewer, a saved notebook before it runs).

When :func:`~course_utils.plotting.is_headless` is true (CI, ``course nb run``, nbval) the controls
are shown and the function is run once with the initial values as ordinary output, so committed
notebooks hold the figure of the initial state (see :func:`course_utils.notebooks.normalise`).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import clear_output, display

from .plotting import is_headless

__all__ = ["live", "controls_summary"]

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _make_control(name: str, abbrev: Any, default: Any) -> widgets.Widget:
    """A control from a widget or an ``interact`` abbreviation, labelled ``name`` unless it has a label."""
    if isinstance(abbrev, widgets.fixed):
        return abbrev
    if isinstance(abbrev, widgets.ValueWidget):
        control = abbrev
    else:
        control = widgets.interactive.widget_from_abbrev(abbrev, default)
        if control is None:
            raise ValueError(f"live(): cannot make a control for {name}={abbrev!r}; pass a widget "
                             "(e.g. widgets.IntSlider(...)) or an interact abbreviation like (0, 10) or (0.1, 2.0, 0.1)")
    if not getattr(control, "description", None):
        control.description = name
    style = getattr(control, "style", None)
    if style is not None and hasattr(style, "description_width"):
        style.description_width = "initial"          # the whole label, never "temperat..."
    if isinstance(control, widgets.Text):
        control.continuous_update = False            # re-run on Enter / leaving the box, not per key
    if isinstance(control, widgets.widget_selection._Selection):
        values = list(control._options_values)
        if any(v is None for v in values):
            # ipywidgets cannot select an option whose value is None (its index becomes None: TraitError);
            # select by position instead, and :func:`_value` maps the position back to the value
            index = control.index
            control.options = [(label, i) for i, label in enumerate(control._options_labels)]
            control.index = index
            control._course_values = values
    return control


def _value(control: widgets.Widget) -> Any:
    """The value ``fn`` receives from a control (see the None-option workaround in :func:`_make_control`)."""
    values = getattr(control, "_course_values", None)
    return values[control.value] if values is not None else control.value


def controls_summary(controls: dict[str, widgets.Widget]) -> str:
    """The one-line text shown instead of the controls where widgets cannot be drawn."""
    def show(c: Any) -> str:
        v = _value(c)
        return f"{v:g}" if isinstance(v, float) else repr(v) if isinstance(v, str) else str(v)

    parts = [f"{getattr(c, 'description', '') or name} = {show(c)}" for name, c in controls.items()
             if not isinstance(c, widgets.fixed)]
    return "Interactive controls (run the notebook to use them): " + ", ".join(parts)


def _is_pyplot_figure(obj: Any) -> bool:
    if "matplotlib.pyplot" not in sys.modules:
        return False
    from matplotlib._pylab_helpers import Gcf
    return any(m.canvas.figure is obj for m in Gcf.get_all_fig_managers())


def _flush_pyplot() -> None:
    """Display and close the open pyplot figures now (the inline backend would wait for the cell's end).

    ``ipywidgets.interaction.show_inline_matplotlib_plots`` misses figures with recent matplotlib,
    which reports the backend as ``inline``; this checks for both spellings.
    """
    if "matplotlib.pyplot" not in sys.modules:
        return
    import matplotlib
    if "inline" not in str(matplotlib.get_backend()):
        return
    from matplotlib_inline.backend_inline import show
    show(close=True)


def _show(fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """Run ``fn(**kwargs)``; display its figures (pyplot ones, then the return value)."""
    result = fn(**kwargs)
    if _is_pyplot_figure(result):
        result = None                                # shown once, by the flush below
    _flush_pyplot()
    if result is not None:
        display(result)


def live(fn: Callable[..., Any], **controls: Any) -> None:
    """Display controls bound to ``fn``: moving one re-runs ``fn`` and replaces the output under them.

    Each keyword is a control or an abbreviation ``interact`` understands, e.g.
    ``live(show, t=widgets.IntSlider(0, 0, 4))`` or ``live(show, temperature=(0.1, 2.0, 0.1))``.
    Whatever ``fn`` prints, draws with matplotlib, or returns (a figure, a table) is shown.
    Returns nothing, so a cell ending in ``live(...)`` shows the controls once whether or not the
    kernel records history (nbval does not, and would otherwise also print the widget's repr).
    """
    params = inspect.signature(fn).parameters
    made = {name: _make_control(name, abbrev, params[name].default if name in params else inspect.Parameter.empty)
            for name, abbrev in controls.items()}
    shown = [c for c in made.values() if isinstance(c, widgets.DOMWidget)]

    def values() -> dict[str, Any]:
        return {name: _value(c) for name, c in made.items()}

    headless = is_headless()
    out = None if headless else widgets.Output()
    box = widgets.VBox(shown + ([out] if out is not None else []))
    bundle = box._repr_mimebundle_()
    bundle = dict(bundle) if isinstance(bundle, dict) else {}
    bundle["text/plain"] = controls_summary(made)
    display(bundle, raw=True)
    if headless:
        # No frontend will draw the Output widget: render the initial state as ordinary output.
        _show(fn, values())
        return

    def render(_change: Any = None) -> None:
        with out:
            clear_output(wait=True)
            _show(fn, values())

    for c in shown:
        c.observe(render, names="value")
    render()
