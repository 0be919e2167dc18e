"""Interactive controls that also work with no frontend attached.

:func:`live` shows ipywidgets controls that re-run a function, as ``ipywidgets.interact`` does.
Widget output lives in the browser, so a notebook executed headless (CI, ``course nb run``,
exported HTML) would otherwise show nothing; when :func:`~course_utils.plotting.is_headless`
is true, :func:`live` also runs the function once with the default values, as ordinary output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from .plotting import is_headless

__all__ = ["live"]


def live(fn: Callable[..., Any], **controls: Any) -> None:
    """Display controls bound to ``fn`` (see ``ipywidgets.interactive``).

    Returns nothing, so a cell ending in ``live(...)`` shows the controls once whether or not the
    kernel records history (nbval does not, and would otherwise also print the widget's repr).

    Each keyword is a control or an abbreviation ``interact`` understands, e.g.
    ``live(show, t=widgets.IntSlider(0, 0, 4))`` or ``live(show, temperature=(0.1, 2.0, 0.1))``.
    """
    if not is_headless():
        display(widgets.interactive(fn, **controls))
        return
    # Headless: build the controls without running fn inside an Output widget (its output would
    # be routed to a frontend that is not there), show them, then render fn once as plain output.
    w = widgets.interactive(fn, {"manual": True}, **controls)
    display(widgets.VBox(list(w.kwargs_widgets)))
    result = fn(**{c._kwarg: c.value for c in w.kwargs_widgets})
    if result is not None:
        display(result)
