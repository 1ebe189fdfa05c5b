"""The C printer for ``falcolib events`` (falcolib._speedups.Printer), set up for a run.

When the format reads only fields the event header and the thread table answer
(``Formatter.plan()``) and no filter, JSON or limit is asked for, the events the
state engine does not need are formatted in C, straight from the capture chunk;
Python still decodes, applies and prints every event the state needs (and any
event the C loop declines: a string needing escapes, an unknown thread...).
Lines from both go, in event order, into the printer's buffer.
"""
from __future__ import annotations

from falcolib.decode.visibility import CONTAINER_TYPES


def make_printer(reader, fmt, state, escape: bool):
    """A Printer wired into ``reader`` (ScapReader), or None when the fast path does
    not apply (no C extension, a format it cannot print)."""
    from falcolib.speedups import speedups
    mod = speedups()
    plan = fmt.plan()
    if mod is None or plan is None:
        return None
    from falcolib.decode.table import EVENTS, SYSCALL_NAMES
    from falcolib.engine import hidden_types
    from falcolib.fields.evt import _NAMES
    from falcolib.state.threadinfo import ThreadInfo

    hidden = hidden_types()
    if state is not None:
        from falcolib.state import wanted_types
        python = set(wanted_types())
        creates = state.placeholder_types()
        threads = state.threads
    else:
        python, creates, threads = set(), frozenset(), None
    python |= CONTAINER_TYPES
    actions = bytearray(reader.max_type)
    for t in range(reader.max_type):
        if t in python:
            actions[t] = mod.ACTION_PYTHON
        elif hidden[t]:
            actions[t] = mod.ACTION_SKIP
        else:
            actions[t] = mod.ACTION_SHOW | (mod.ENTER_EXIT if t in creates else 0)
    names = tuple(n.encode() for n in _NAMES) + tuple(
        e.name.encode() for e in EVENTS[len(_NAMES):])
    printer = mod.Printer(bytes(actions), plan, fmt.require_all, names,
                          tuple(n.encode() for n in SYSCALL_NAMES), threads, ThreadInfo, escape)
    reader.set_fast(printer, state.flush_pending if state is not None else None)
    return printer
