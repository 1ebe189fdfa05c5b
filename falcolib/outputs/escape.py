"""Escaping of attacker-controlled text before it reaches a terminal, a log or a line protocol.

Falco encodes a text alert as the body of a JSON string (quotes, backslashes and
control characters escaped; invalid UTF-8 replaced by U+FFFD). falcolib does the
same and, being stricter, also escapes DEL, the C1 controls (0x80-0x9f: a lone
0x9b is a terminal CSI) and the Unicode bidirectional overrides, so one alert is
always one printable line that cannot rewrite what a reader sees.
"""
from __future__ import annotations

import re

__all__ = ["escape_text", "sanitize_utf8"]

_SPECIAL = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}

# C0 controls, quote, backslash, DEL, C1 controls, bidi embeddings/overrides/isolates,
# and lone surrogates (bytes that were not UTF-8, decoded with surrogateescape).
_NEEDS_ESCAPE = re.compile(
    '["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]'
)
_SURROGATES = re.compile("[\ud800-\udfff]")


def _replace(match: re.Match) -> str:
    char = match.group()
    special = _SPECIAL.get(char)
    if special is not None:
        return special
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return f"\\u{code:04x}"


def escape_text(text: str) -> str:
    """Return ``text`` as one printable line: the body of a JSON string, stricter."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text
    return _NEEDS_ESCAPE.sub(_replace, text)


def sanitize_utf8(text: str) -> str:
    """Replace lone surrogates (undecodable bytes) by U+FFFD, as Falco does before JSON."""
    if _SURROGATES.search(text) is None:
        return text
    return _SURROGATES.sub("\ufffd", text)
