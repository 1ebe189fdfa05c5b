"""falcolib backend replaying sysdig/Falco scap capture files (.scap, .scap.gz).

    with ScapBackend("trace.scap") as backend:
        state = backend.snapshot()
        for raw in backend:
            ...

Registered under the ``falcolib.backends`` entry-point group as ``scap``.
"""
from __future__ import annotations

import os
from typing import Iterator

from falcolib.backend.model import BackendStats, RawEvent, StateSnapshot

__all__ = ["ScapBackend"]


class ScapBackend:
    """Replay a capture: iteration ends at the end of the file.

    ``types`` (a set of event type codes, or None for all) restricts what is
    yielded; the others are still numbered so evt.num stays what sysdig
    prints. ``max_type`` is the reader's (default: sysdig 0.29's table size;
    None for every type the current event table knows).
    """

    name = "scap"

    def __init__(self, path: str | os.PathLike, types: frozenset[int] | None = None, *,
                 max_type: int | None | str = "sysdig"):
        self.path = os.fspath(path)
        self._types = types
        self._max_type = max_type
        self._reader = None
        self._stopped = False
        self._iter = None
        self._stats = BackendStats()

    def set_event_types(self, types: frozenset[int] | None) -> None:
        """The event types wanted (None = all); call before iterating."""
        self._types = types
        if self._reader is not None:
            self._reader.set_types(types)

    def __enter__(self) -> "ScapBackend":
        from falcolib.scap.reader import ScapReader
        self._reader = ScapReader(self.path, types=self._types, max_type=self._max_type)
        self._reader.snapshot()   # reads the header: a bad file fails here
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._reader is not None:
            self._reader.close()

    @property
    def reader(self):
        """The ScapReader of an entered backend (None before): falcolib's C replay loop
        is wired into it (``ScapReader.set_fast``)."""
        return self._reader

    def __iter__(self) -> Iterator[RawEvent]:
        # the reader's own generator, not a wrapper: one less frame per event
        if self._reader is None:
            self.__enter__()
        if self._iter is None:
            self._iter = iter(()) if self._stopped else self._reader.events()
        return self._iter

    def snapshot(self) -> StateSnapshot:
        if self._reader is None:
            self.__enter__()
        return self._reader.snapshot()

    def stats(self) -> BackendStats:
        """Counters; events_read is exact at the end of the replay and at most
        one read chunk behind during it."""
        self._update()
        return self._stats

    def stop(self) -> None:
        self._stopped = True
        if self._reader is not None:
            self._reader.stop()

    def _update(self) -> None:
        r = self._reader
        if r is None:
            return
        s = self._stats
        s.events_read = r.events_read
        s.skipped_blocks = r.unknown_blocks
        s.extra["skipped_events"] = r.skipped_events
        s.extra["late_state_blocks"] = len(r.late_blocks)
