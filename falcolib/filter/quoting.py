"""Quoted strings in conditions: unescaping what Falco accepts, and quoting back.

Escapes (libsinsp's ``unescape_str``): ``\\b \\f \\n \\r \\t``, ``\\\\``,
``\\/``, ``\\xHH`` (one byte), ``\\"`` inside ``"..."`` and ``\\'`` inside
``'...'``; ``\\ `` (backslash, space) gives a backslash, as Falco keeps for
old rules. Anything else is an error. Text is ``str``; bytes that are not
UTF-8 are carried as surrogate escapes, the way decoded event strings are.
"""
from __future__ import annotations

import re

_SIMPLE = {"b": b"\b", "f": b"\f", "n": b"\n", "r": b"\r", "t": b"\t",
           "\\": b"\\", "/": b"/", " ": b"\\"}
_PRINT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
                  "\\": "\\\\", '"': '\\"'}

# \b is a blank to the parser outside quotes (lex_blank), so text holding it prints quoted
BARE_STRING = re.compile(r"""[^()"'\s\x08=,]+""")
QUOTED_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|' + r"'(?:[^'\\]|\\.)*'", re.S)
IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
FIELD_NAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
FIELD_ARG_BARE = re.compile(r"""[^\]\["'\s\x08]+""")


class EscapeError(ValueError):
    """A quoted string holds an escape Falco rejects; ``offset`` is into the body."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def unescape(body: str, quote: str) -> str:
    """The value of a quoted string whose text between the quotes is ``body``."""
    if "\\" not in body:
        return body
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= n:
            raise EscapeError("unfinished escape sequence at end of string", i)
        esc = body[i + 1]
        if esc in _SIMPLE:
            out += _SIMPLE[esc]
            i += 2
        elif esc in "\"'":
            if esc != quote:
                other = '"' if quote == "'" else "'"
                raise EscapeError(f"invalid \\{esc} escape in {other}-quoted string", i)
            out += esc.encode()
            i += 2
        elif esc == "x":
            digits = body[i + 2:i + 4]
            if len(digits) < 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise EscapeError(f"invalid hex escape sequence \\x{digits}", i)
            out.append(int(digits, 16))
            i += 4
        else:
            raise EscapeError(f"unsupported escape sequence \\{esc}", i)
    return out.decode("utf-8", "surrogateescape")


def quote(text: str) -> str:
    """``text`` as a double-quoted string that ``unescape`` turns back into it."""
    parts = ['"']
    for ch in text:
        code = ord(ch)
        esc = _PRINT_ESCAPES.get(ch)
        if esc is not None:
            parts.append(esc)
        elif 0xDC80 <= code <= 0xDCFF:  # a raw non-UTF-8 byte
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            parts.append(f"\\x{code:02x}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def is_bare(text: str) -> bool:
    """Whether ``text`` can be written unquoted as a value."""
    return BARE_STRING.fullmatch(text) is not None


def is_identifier(text: str) -> bool:
    return IDENTIFIER.fullmatch(text) is not None
