"""Positions in condition text: where a node or an error is, for messages."""
from __future__ import annotations

import contextvars

from falcolib.errors import Position

# (file, first line, first column) of the text being parsed, for node positions
ORIGIN: contextvars.ContextVar[tuple[str, int, int]] = contextvars.ContextVar(
    "filter_origin", default=("", 1, 1))


def position_at(text: str, loc: int, origin: tuple[str, int, int] | None = None) -> Position:
    """The Position of offset ``loc`` of ``text``, which starts at ``origin``."""
    file, line, column = origin if origin is not None else ORIGIN.get()
    nl = text.rfind("\n", 0, loc)
    if nl < 0:
        return Position(file, line, column + loc)
    return Position(file, line + text.count("\n", 0, loc), loc - nl)
