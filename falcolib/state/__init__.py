"""state stage: threads, fd tables, users, groups and containers, kept as sysdig 0.29 does.

``State(snapshot).process(evt) -> EventView`` is the whole interface on the
event path (libsinsp's parsers: enter/exit pairing, thread and fd tables,
delayed removal of closed fds and exited threads). ``fd_label``,
``thread_comm``, ``thread_cwd`` and ``fd_name`` serve decode.render.

Options: ``max_threads``/``max_fds``/``max_containers`` bound the tables
(sysdig's 131072 threads and 4096 fds per process); ``host_tables`` reads
/etc/passwd and /etc/group when the snapshot has no users (default: only
without a snapshot); ``live`` sweeps closed and idle dead threads every
``purge_interval_ns``; ``sysdig_filter_order`` reproduces ``sysdig -r FILE
FILTER`` (filter before the parsers of events that do not modify state, then
``settle()`` or ``discard()``). The parsers live in ``proc_parsers``,
``fd_parsers``, ``socket_parsers``, ``resource_parsers`` and
``container_parsers``, one handler per driver event, dispatched by type.
"""
from __future__ import annotations

from falcolib.state.engine import State
from falcolib.state.fdinfo import FdInfo
from falcolib.state.threadinfo import ThreadInfo
from falcolib.state.view import EventView


def wanted_types(enterless: bool = False, fields=None, *, sysdig_order: bool = False) -> frozenset[int]:
    """Event types the state engine must see to keep its tables right; with ``enterless``
    (a live backend whose exits carry their call's parameters, read by a
    ``State(enterless=True)``), without the enter events those exits make unneeded.

    ``fields``: the canonical names of the fields the consumer extracts (see
    ``falcolib.state.groups``): only the parsers those fields depend on (the thread
    table always). None: every parser, for any field. ``sysdig_order``: for a consumer
    filtering before the parsers as ``sysdig -r FILTER`` (``State(sysdig_filter_order=
    True)``) whose own types are those its filter can be true on: without the types
    whose parser would run only on events passing that filter (``groups.lean_types``)."""
    from falcolib.state.groups import lean_types
    out = lean_types(fields, sysdig_order=sysdig_order)
    if enterless:
        from falcolib.state.engine import enterless_types
        out -= enterless_types(out)
    return out


def needed_types(fields) -> frozenset[int]:
    """The event types whose parsers must run for ``fields`` (canonical names; None: any
    field) to answer as if every parser ran: ``wanted_types(fields=fields)``. For a
    consumer that hands the state only these but gives every other event what
    ``State.process`` does before a parser (pending removals, pairing, latency, the fd
    used, the "<NA>" thread of an unknown tid, evt.reltime's first event, the switch CPU
    times when the memory fields are used). Without that, fields that need every event
    (``groups.needs_every_event``) need every event processed."""
    return wanted_types(False, fields)


__all__ = ["State", "ThreadInfo", "FdInfo", "EventView", "wanted_types", "needed_types"]
