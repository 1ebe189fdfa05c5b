"""An in-memory backend: yields the RawEvents it was given. For tests."""
from __future__ import annotations

from typing import Iterable, Iterator

from falcolib.backend.model import BackendStats, RawEvent, StateSnapshot


class MemoryBackend:
    name = "memory"

    def __init__(self, events: Iterable[RawEvent] = (), snapshot: StateSnapshot | None = None):
        self._events = list(events)
        self._snapshot = snapshot or StateSnapshot()
        self._stats = BackendStats()
        self._stopped = False

    def __enter__(self) -> "MemoryBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __iter__(self) -> Iterator[RawEvent]:
        for ev in self._events:
            if self._stopped:
                return
            self._stats.events_read += 1
            yield ev

    def snapshot(self) -> StateSnapshot:
        return self._snapshot

    def stats(self) -> BackendStats:
        return self._stats

    def stop(self) -> None:
        self._stopped = True
