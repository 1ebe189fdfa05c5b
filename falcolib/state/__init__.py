"""state stage: threads, fd tables, users, groups and containers, kept as sysdig 0.29 does.

``State(snapshot).process(evt) -> EventView`` is the whole interface on the
event path; ``fd_label``/``thread_comm`` serve decode.render.
"""
from __future__ import annotations

from falcolib.state.engine import State
from falcolib.state.fdinfo import FdInfo
from falcolib.state.threadinfo import ThreadInfo
from falcolib.state.view import EventView


def wanted_types() -> frozenset[int]:
    """Event types the state engine must see to keep its tables right."""
    from falcolib.decode.table import EVENTS
    from falcolib.state.engine import parser_tables
    handlers, stored = parser_tables()
    names = set(handlers) | stored
    out = set()
    for info in EVENTS:
        if info.enum in names:
            out.add(info.code)
            # the other half of the enter/exit pair (pairing needs both)
            out.add(info.code ^ 1)
    return frozenset(c for c in out if c < len(EVENTS))


__all__ = ["State", "ThreadInfo", "FdInfo", "EventView", "wanted_types"]
