"""Feedback reports of a graded submission: Markdown, HTML and a plain-text summary.

A report shows, per question, the score, a status and a message written by the grader (test labels,
shapes, relative errors, exception types) -- never hidden inputs or reference outputs, which are not
part of :class:`~course_utils.grader.grade.GradeResult` at all.

Reports are inert: every text field is first reduced to one line of plain text by
:func:`course_utils.grader.safety.clean_text` (no control characters or ANSI escapes, capped length;
student-originated text had long numbers withheld when it entered the result), then escaped for
the format -- HTML entities in HTML, backslash-escaped Markdown punctuation and HTML entities in
Markdown (no link, image, emphasis, table cell or tag survives), nothing else in the terminal text.
"""

from __future__ import annotations

import html

from .grade import GradeResult
from .safety import clean_text, md_escape

__all__ = ["to_markdown", "to_html", "to_text"]

# Status marks are CSS dots (no emoji font needed); Markdown and text show the status word only.
_COLOUR = {"passed": "#1a7f37", "partial": "#bf8700", "failed": "#cf222e", "missing": "#cf222e",
           "not_implemented": "#6e7781", "timeout": "#cf222e", "crashed": "#cf222e"}
_LEFT = "text-align:left"       # JupyterLab right-aligns table cells by default
_RIGHT = "text-align:right;white-space:nowrap"


def _mark(status: str) -> str:
    colour = _COLOUR.get(status, "#6e7781")
    return (f"<span style='display:inline-block;width:0.7em;height:0.7em;border-radius:50%;"
            f"background:{colour};margin-right:0.35em;vertical-align:baseline'></span>")


def _md_escape(text: object) -> str:
    return md_escape(text)


def _t(text: object, limit: int = 600) -> str:
    """One inert line of plain text (for the terminal, and before HTML escaping)."""
    return clean_text(text, limit, numbers=False)


def _footer(r: GradeResult) -> list[str]:
    return [f"Seed {r.seed} · graded in {r.duration:.1f} s · grader {r.grader_version} · "
            f"notebook sha256 {r.sha256[:12]}…", r.isolation]


def to_markdown(r: GradeResult) -> str:
    """A Markdown report (what ``submit()`` displays)."""
    lines = [f"### {_md_escape(r.lab_title)} ({_md_escape(r.lab)}) — {r.total:g} / {r.max:g} points", "",
             "| Question | Score | Status | Feedback |", "|:---|---:|:---|:---|"]
    for q in r.questions:
        lines.append(f"| {_md_escape(q.id)} {_md_escape(q.title)} | {q.score:g} / {q.max:g} | "
                     f"{_md_escape(q.status.replace('_', ' '))} | {_md_escape(q.message)} |")
    if r.notes:
        lines += ["", "**Notes about your notebook**", ""] + [f"- {_md_escape(n)}" for n in r.notes]
    lines += ["", "Hidden tests use inputs drawn fresh at each grading; the seed below reproduces them for "
              "your instructor."] + ["", *(f"<sub>{_md_escape(f)}</sub>" for f in _footer(r))]
    return "\n".join(lines) + "\n"


def to_html(r: GradeResult) -> str:
    """A self-contained HTML report (escaped throughout)."""
    def e(text: object) -> str:
        return html.escape(_t(text, 2000))
    rows = "".join(
        f"<tr><td style='{_LEFT}'>{e(q.id)} {e(q.title)}</td><td style='{_RIGHT}'>{q.score:g} / {q.max:g}</td>"
        f"<td style='{_LEFT};white-space:nowrap'>{_mark(q.status)}{e(q.status.replace('_', ' '))}</td>"
        f"<td style='{_LEFT}'>{e(q.message)}</td></tr>"
        for q in r.questions)
    notes = "".join(f"<li>{e(n)}</li>" for n in r.notes)
    notes_html = f"<p><b>Notes about your notebook</b></p><ul>{notes}</ul>" if notes else ""
    footer = "<br>".join(e(f) for f in _footer(r))
    return (f"<div class='course-grade-report'><h3>{e(r.lab_title)} ({e(r.lab)}) — {r.total:g} / {r.max:g} points</h3>"
            f"<table><thead><tr><th style='{_LEFT}'>Question</th><th style='{_RIGHT}'>Score</th>"
            f"<th style='{_LEFT}'>Status</th><th style='{_LEFT}'>Feedback</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{notes_html}<p><small>{footer}</small></p></div>")


def to_text(r: GradeResult) -> str:
    """A compact terminal summary (``course grade`` without ``--json``)."""
    out = [f"{_t(r.student, 100)} · {_t(r.lab, 80)} · {r.total:g}/{r.max:g} · seed {r.seed} · {r.duration:.1f} s  "
           f"({_t(r.path, 300)})"]
    for q in r.questions:
        out.append(f"  {_t(q.id, 20):<6} {q.score:>6g}/{q.max:<4g} {_t(q.status, 20):<15} {_t(q.message)}")
    out += [f"  note: {_t(n)}" for n in r.notes]
    return "\n".join(out)
