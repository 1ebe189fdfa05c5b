"""EventView: what a field extractor sees — the decoded event joined with state.

Built once per event by the state engine, after the event has been applied
to the state (for exit events: after the syscall's effect, as sysdig does).

- ``evt``    the lazily decoded event (``falcolib.decode.Event``)
- ``thread`` the thread that made the call (``ThreadInfo``) or None
- ``fd``     the fd the event refers to (``FdInfo``) or None
- ``state``  the state engine (thread table, users, groups, containers)
"""
from __future__ import annotations


class EventView:
    __slots__ = ("evt", "thread", "fd", "state", "cache")

    def __init__(self, evt, thread=None, fd=None, state=None):
        self.evt = evt
        self.thread = thread
        self.fd = fd
        self.state = state
        self.cache = None  # per-event memo for extractors that share work
