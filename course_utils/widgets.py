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


def live(fn: Callable[..., Any], **controls: Any) -> widgets.Widget:
    """Display controls bound to ``fn`` (see ``ipywidgets.interactive``); returns the widget.

    Each keyword is a control or an abbreviation ``interact`` understands, e.g.
    ``live(show, t=widgets.IntSlider(0, 0, 4))`` or ``live(show, temperature=(0.1, 2.0, 0.1))``.
    """
    w = widgets.interactive(fn, **controls)
    if is_headless():
        display(widgets.VBox(w.children[:-1]))
        kwargs = {c._kwarg: c.value for c in w.kwargs_widgets}
        result = fn(**kwargs)
        if result is not None:
            display(result)
    else:
        display(w)
    return w
