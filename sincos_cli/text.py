"""Text from a run folder, made safe to show on a terminal (standard library only).

Every name and value in a folder may come from someone else. On a terminal, control
characters (C0, DEL, C1: ESC starts the sequences that set a window's title or clear the
screen), bidi overrides and isolates (which reorder what is shown) and lone surrogates (a
name whose bytes are not UTF-8) print as escapes, `\\x1b`, `\\u202e`, `\\udcff`, so they are
seen and never acted on. JSON and CSV keep the exact text; the HTML report escapes at its
own one place (report/html.py).
"""

from __future__ import annotations

import re

# C0 but tab and newline, DEL, C1; bidi embeddings, overrides and isolates and the marks
# that steer them; lone surrogates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e"
                     "\u2066-\u2069\ud800-\udfff]")
_UNSAFE_LINE = re.compile(_UNSAFE.pattern[:-1] + "\t\n]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text: str, *, lines: bool = True) -> str:
    """`text` with every unsafe character escaped; tab and newline kept when `lines`
    (a note, a whole screen), escaped too when not (a name, one line of a table)."""
    return (_UNSAFE if lines else _UNSAFE_LINE).sub(_escape, text)
