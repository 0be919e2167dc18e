"""Make text that comes from student code inert, and student ids safe to use as file names.

Everything a submission can influence -- exception messages and type names sent back by the
sandbox, statement names, parser messages about its cells -- goes through :func:`clean_text`
before it enters a result, and the report writers escape it again for Markdown / HTML
(:func:`md_escape`). The rules:

* control characters (C0, C1, DEL), ANSI escape sequences and Unicode bidi / invisible format
  characters are removed, and whitespace runs (newlines included) become one space, so nothing
  can move the instructor's terminal cursor, colour it or fake a line of output;
* long numbers are withheld (they could echo hidden test inputs): a run of 6 or more digits, or a
  decimal with 3 or more digits after the point, replaces the whole text;
* the length is capped.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["clean_text", "md_escape", "WITHHELD", "StudentIdError", "check_student_id", "STUDENT_ID_RULE"]

WITHHELD = "(message withheld: it may contain hidden test values)"
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_LONG_NUMBER = re.compile(r"\d\.\d{3,}|\d{6,}")
_WS = re.compile(r"\s+")
_STUDENT_ID = re.compile(r"[A-Za-z0-9_@+][A-Za-z0-9_.@+-]{0,99}")    # used with fullmatch (no "$" before a "\n")
STUDENT_ID_RULE = ("1-100 characters: letters, digits and _ . @ + - (not starting with . or -), "
                   "so that it can name a report file")


# Unicode's Default_Ignorable_Code_Point characters that are not format (Cf) characters -- fillers,
# variation selectors, invisible combining marks -- the blank braille pattern and the musical null
# notehead: all render as nothing (or blank) and could pad a line so that a fake one seems to start.
_INVISIBLE = {0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0, 0x1D159, *range(0x180B, 0x1810),
              *range(0xFE00, 0xFE10), *range(0xE0000, 0xE1000)}


def _visible(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return not (cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ord(ch) in _INVISIBLE)


def clean_text(text: object, limit: int = 300, *, numbers: bool = True) -> str:
    """``text`` as one line of inert plain text (see the module docstring).

    ``numbers=False`` keeps long numbers (for text written by the grader about a student's
    notebook, e.g. cell and line numbers, where nothing hidden can appear).
    """
    try:
        s = text if type(text) is str else str(text)
    except Exception:  # a str subclass or __str__ of the student's making  # noqa: BLE001
        return "(unprintable text)"
    s = s[: limit * 8]                                   # bound the work before the regexes
    s = _ANSI.sub("", s)
    s = "".join(ch if _visible(ch) else " " for ch in s)
    s = _WS.sub(" ", s).strip()
    if numbers and _LONG_NUMBER.search(s):
        return WITHHELD
    if len(s) > limit:
        s = s[: limit - 1].rstrip() + "…"
    return s


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~:.])")
_WORD_JOINER = "\u2060"


def md_escape(text: object, limit: int = 2000) -> str:
    """Inert Markdown: one cleaned line, every Markdown punctuation backslash-escaped, HTML
    special characters as entities (so no link, image, emphasis, table cell or tag survives).

    GitHub-flavoured renderers also turn bare addresses into links (``https://…``, ``www.…``, ``a@b.c``):
    the escaped ``:`` and ``.`` break the first two, and an invisible word joiner before ``@`` the third.
    """
    s = clean_text(text, limit, numbers=False)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _MD_SPECIAL.sub(r"\\\1", s).replace("@", _WORD_JOINER + "@")


class StudentIdError(ValueError):
    """A student id that cannot safely name a gradebook row and a report file."""


def check_student_id(student: str) -> str:
    """Return ``student`` if it is a safe id (see :data:`STUDENT_ID_RULE`), else raise :class:`StudentIdError`."""
    if type(student) is not str or not _STUDENT_ID.fullmatch(student) or student in (".", ".."):
        shown = clean_text(student, 60, numbers=False)
        raise StudentIdError(f"student id {shown!r} is not allowed: use {STUDENT_ID_RULE}")
    return student
