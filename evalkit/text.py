"""Participant text made safe to print.

Anything a participant's image wrote (stderr lines in a status reason, log tails,
key names) may hold terminal escape sequences (colours, cursor moves, a window
title, a clear screen), a bell, bidirectional overrides, NUL or invalid UTF-8.
:func:`printable` turns every such character into a visible escape (``\\x1b``,
``\\u202e``), so what reaches an operator's terminal or a summary line is only
ordinary text. Apply it where participant text is taken in (the runner's reason)
and again where it is printed.
"""

from __future__ import annotations

import unicodedata


def printable(text: str | bytes, *, keep_newlines: bool = False) -> str:
    """``text`` with control and format characters escaped; bytes decode as UTF-8 with
    invalid bytes shown as ``\\xNN``.

    Escaped: Unicode categories Cc (C0/C1 controls, DEL, ESC), Cf (format: bidi
    overrides, zero-width), Cs (lone surrogates), Co (private use), Cn (unassigned).
    Tab becomes a space; newlines become ``\\n`` unless ``keep_newlines``.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "backslashreplace")
    out = []
    for ch in text:
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif unicodedata.category(ch)[0] == "C":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)
