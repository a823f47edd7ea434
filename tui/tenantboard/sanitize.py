"""Make untrusted text safe to show in a terminal.

Text from the network and from the tenant file is data. Escape sequences (CSI, OSC, ...)
are removed whole, other control characters and bidirectional overrides are dropped, and
the result is cut to a length. Markup is a separate concern: callers render with
``rich.text.Text`` so that ``[bold]`` stays literal.
"""

from __future__ import annotations

import re

# ESC followed by a CSI / OSC / DCS / single-character sequence, and the 8-bit CSI (0x9b).
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?        # CSI ... final byte
    | (?:\x1b[\]P^_X]|[\x90\x9d\x9e\x9f\x98]) # OSC, DCS, PM, APC, SOS: up to ST or BEL
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?
    | \x1b[ -/]*[0-~]?                       # any other escape
    """,
    re.VERBOSE,
)
# C0 and C1 controls, DEL, and the Unicode bidi overrides/isolates that reorder text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE_CONTROL = re.compile(r"[\t\n\r\v\f]+")


def clean(text: str, limit: int = 500) -> str:
    """Return ``text`` without escape sequences or control characters, at most ``limit`` long.

    Tabs and newlines become single spaces so that one value stays on one line.
    """
    if text.isascii() and text.isprintable():  # most text: nothing to remove
        return text if len(text) <= limit else text[: limit - 1] + "…"
    if len(text) > limit * 4:
        text = text[: limit * 4]
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _WHITESPACE_CONTROL.sub(" ", text)
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def quoted(text: str, limit: int = 60) -> str:
    """``text`` as a message names what was given or found: cleaned, in double quotes
    (``"Cust1x" is not a context id``). Not Python's repr, whose quotes change with the
    text and which doubles backslashes and shows ``None`` for nothing. Control characters
    are shown escaped (``\\x00``), so that the message says what is wrong with it."""
    visible = _CONTROL.sub(_escaped, str(text))
    return f'"{clean(visible, limit)}"'


def _escaped(found: re.Match[str]) -> str:
    """A control character as a message shows it: ``\\x00``, visible and harmless (a line
    of ``\\x00\\x01`` was named ``""``, which said nothing of what was wrong)."""
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
