"""A sink runs off the event path: a bounded queue and one worker thread per sink.

The event loop only ever calls :meth:`SinkRunner.submit`, which never blocks: when the
queue is full the alert is dropped and counted. Every alert submitted ends in exactly one
counter: ``delivered``, ``dropped`` (queue full), ``failed`` (the sink raised after its own
retries) or ``discarded`` (still queued, or in flight in a hung sink, when the runner closed),
so ``submitted == delivered + dropped + failed + discarded`` once closed.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, Protocol

import attrs

from falcolib.outputs.alert import PendingAlert

__all__ = ["BaseSink", "Sink", "SinkRunner", "SinkStats"]

log = logging.getLogger("falcolib.outputs")

_STOP = object()
_LOG_EVERY_S = 10.0


class Sink(Protocol):
    """What a sink implements; it runs only in its runner's thread.

    ``wants`` says what ``emit`` receives: ``"line"`` (the alert rendered per
    ``json_output``), ``"json"`` (Falco's JSON alert whatever ``json_output`` says) or
    ``"alert"`` (the Alert object itself).
    """

    name: str
    wants: str

    def open(self) -> None: ...
    def emit(self, item: Any) -> None: ...
    def flush(self) -> None: ...
    def reopen(self) -> None: ...
    def close(self) -> None: ...
    def take_lost(self) -> int: ...


@attrs.frozen
class SinkStats:
    """Counters of one sink; ``lost`` is every alert that did not reach it."""

    name: str
    capacity: int
    depth: int
    submitted: int
    delivered: int
    dropped: int
    failed: int
    discarded: int
    reopens: int

    @property
    def lost(self) -> int:
        return self.dropped + self.failed + self.discarded


class SinkRunner:
    """Runs one sink behind a bounded queue in a daemon thread.

    The queue is a deque: ``submit`` is a length check and an append (no lock, no
    exception when full), and wakes the worker only when it sleeps. ``submit`` must be
    called from one thread at a time (Dispatcher.publish serialises its callers).
    """

    def __init__(self, sink: Sink, capacity: int = 1024) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be at least 1 (got {capacity})")
        self.sink = sink
        self.name = sink.name
        self.wants = sink.wants
        self.capacity = capacity
        self._queue: deque = deque()
        self._wake = threading.Event()
        self._idle = False
        self._thread: threading.Thread | None = None
        self._reopen = False
        self._stopping = False
        self._abandoned = False
        self._inflight = 0
        self.submitted = 0
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self.discarded = 0
        self.reopens = 0
        self._last_drop_log = 0.0
        self._last_fail_log = 0.0

    # -- event-loop side ----------------------------------------------------------------
    def start(self) -> "SinkRunner":
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"falcolib-sink-{self.name}",
                                            daemon=True)
            self._thread.start()
        return self

    def submit(self, item: Any) -> bool:
        """Queue ``item`` for the sink; False (and counted) if the queue is full. Never blocks."""
        self.submitted += 1
        queue = self._queue
        if len(queue) >= self.capacity or self._stopping:
            self.dropped += 1
            now = time.monotonic()
            if now - self._last_drop_log >= _LOG_EVERY_S:
                log.error("output %s: queue full (%d alerts), %d alerts dropped so far",
                          self.name, self.capacity, self.dropped)
                self._last_drop_log = now
            return False
        queue.append(item)
        if self._idle:
            self._wake.set()
        return True

    def reopen(self) -> None:
        """Ask the sink to reopen its target (log rotation); done between two alerts."""
        self._reopen = True
        self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._queue)

    def stats(self) -> SinkStats:
        return SinkStats(self.name, self.capacity, len(self._queue), self.submitted,
                         self.delivered, self.dropped, self.failed, self.discarded, self.reopens)

    def close(self, timeout: float = 2.0) -> SinkStats:
        """Deliver what is queued within ``timeout`` seconds, count the rest as discarded."""
        thread = self._thread
        self._stopping = True
        self._queue.append(_STOP)
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        if thread is not None and thread.is_alive():
            self._abandoned = True
            self.discarded += self._inflight
            log.error("output %s: still blocked after %.1fs, discarding its queued alerts",
                      self.name, timeout)
        while self._queue:
            item = self._queue.popleft()
            if item is not _STOP:
                self.discarded += 1
        if thread is None:
            self._close_sink()
        return self.stats()

    # -- worker side --------------------------------------------------------------------
    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001 - a sink failing to close is only logged
            log.error("output %s: close failed: %s", self.name, exc)
        self._collect_lost()

    def _collect_lost(self) -> None:
        take = getattr(self.sink, "take_lost", None)
        lost = take() if take is not None else 0
        if lost:
            self.delivered -= lost
            self.failed += lost

    def _work(self) -> None:
        sink = self.sink
        queue = self._queue
        wake = self._wake
        try:
            sink.open()
        except Exception as exc:  # noqa: BLE001 - the sink retries opening on each alert
            log.error("output %s: cannot open: %s", self.name, exc)
        while True:
            if self._reopen:
                self._do_reopen()
            if not queue:
                self._flush()
                self._idle = True
                if not queue and not self._reopen:
                    wake.wait(0.5)
                self._idle = False
                wake.clear()
                continue
            item = queue.popleft()
            if item is _STOP:
                self._flush()
                if not self._abandoned:
                    self._close_sink()
                return
            self._inflight = 1
            try:
                sink.emit(item.payload(self.wants) if type(item) is PendingAlert else item)
            except Exception as exc:  # noqa: BLE001 - counted and logged, never raised
                self._inflight = 0
                if self._abandoned:
                    return
                self.failed += 1
                self._log_failure(exc)
            else:
                self._inflight = 0
                if self._abandoned:
                    return
                self.delivered += 1
                self._collect_lost()

    def _flush(self) -> None:
        try:
            self.sink.flush()
        except Exception as exc:  # noqa: BLE001
            self._log_failure(exc)

    def _do_reopen(self) -> None:
        self._reopen = False
        self.reopens += 1
        try:
            self.sink.reopen()
        except Exception as exc:  # noqa: BLE001
            log.error("output %s: reopen failed: %s", self.name, exc)

    def _log_failure(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_fail_log >= _LOG_EVERY_S:
            log.error("output %s: %s (%d alerts failed so far)", self.name, exc, self.failed)
            self._last_fail_log = now


class BaseSink:
    """No-op defaults for the optional Sink methods (one level of subclassing)."""

    name = "sink"
    wants = "line"

    def open(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take_lost(self) -> int:
        """Alerts emitted earlier without error that the sink since learned were lost."""
        return 0
