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
from typing import Any, Callable, Protocol

import attrs

from falcolib.outputs.alert import PendingAlert

__all__ = ["BaseSink", "Sink", "SinkRunner", "SinkStats"]

log = logging.getLogger("falcolib.outputs")

_STOP = object()
_BATCH = 256
_LOG_EVERY_S = 10.0


class Sink(Protocol):
    """What a sink implements; it runs only in its runner's thread.

    ``wants`` says what ``emit`` receives: ``"line"`` (the alert rendered per
    ``json_output``), ``"json"`` (Falco's JSON alert whatever ``json_output`` says) or
    ``"alert"`` (the Alert object itself). A sink may also offer
    ``emit_many(items) -> (delivered, failed, error_or_None)`` to take a batch at once.
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
    exception when full), and wakes the worker only when it sleeps. A woken worker lingers
    ``linger`` seconds before draining, so it handles alerts in batches (an alert may wait
    that long; the event loop is interrupted once per batch rather than once per alert). ``submit`` must be
    called from one thread at a time (Dispatcher.publish serialises its callers).
    """

    def __init__(self, sink: Sink, capacity: int = 1024, *, linger: float = 0.02,
                 block: float = 0.0) -> None:
        if capacity < 1:
            raise ValueError(f"queue capacity must be at least 1 (got {capacity})")
        self.sink = sink
        self.name = sink.name
        self.wants = sink.wants
        self.capacity = capacity
        self.linger = linger
        self.block = block
        self._gave_up_at = -1
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
        if len(queue) >= self.capacity and self.block and not self._stopping:
            self._wait_for_room()
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

    def _wait_for_room(self) -> None:
        """Replay mode: wait while the sink delivers; give up after ``block`` seconds with
        no delivery (a dead sink must not stall the replay forever), and do not wait again
        until it has delivered something."""
        done = self.delivered
        if done == self._gave_up_at:
            return
        deadline = time.monotonic() + self.block
        while len(self._queue) >= self.capacity:
            if self._idle:
                self._wake.set()
            time.sleep(0.001)
            if self.delivered != done:
                done, deadline = self.delivered, time.monotonic() + self.block
            elif time.monotonic() >= deadline:
                self._gave_up_at = done
                log.error("output %s: nothing delivered for %.1fs, dropping alerts until it "
                          "recovers", self.name, self.block)
                return

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

    def begin_close(self) -> None:
        """Stop accepting alerts; the worker delivers what is queued, then ends."""
        self._stopping = True
        self._queue.append(_STOP)
        self._wake.set()

    def close(self, timeout: float = 2.0) -> SinkStats:
        """Deliver what is queued, giving up once the sink has delivered nothing for
        ``timeout`` seconds (Falco's output_timeout idea); what is left counts as discarded.
        A sink that keeps delivering is waited for; one that only fails is not."""
        if not self._stopping:
            self.begin_close()
        thread = self._thread
        if thread is not None:
            done = self.delivered
            deadline = time.monotonic() + timeout
            while thread.is_alive():
                thread.join(min(0.05, timeout))
                now = time.monotonic()
                progress = self.delivered
                if progress != done:
                    done, deadline = progress, now + timeout
                elif now >= deadline:
                    break
        if thread is not None and thread.is_alive():
            self._abandoned = True
            self.discarded += self._inflight
            log.error("output %s: nothing delivered for %.1fs, discarding its %d queued alerts",
                      self.name, timeout, max(0, len(self._queue) - 1))
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
                if queue and self.linger and not self._stopping:
                    # Let a few alerts gather: one wake-up per batch, not per alert, keeps
                    # this thread from taking the GIL from the event loop at every alert.
                    time.sleep(self.linger)
                continue
            emit_many = getattr(sink, "emit_many", None)
            if emit_many is not None and len(queue) > 1:
                if self._emit_batch(emit_many):
                    return
                continue
            item = queue.popleft()
            if item is _STOP:
                self._stop_now()
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

    def _stop_now(self) -> None:
        self._flush()
        if not self._abandoned:
            self._close_sink()

    def _emit_batch(self, emit_many: Callable) -> bool:
        """Hand up to _BATCH queued alerts to the sink in one call (one write(2) for file
        and stdout sinks). Returns True when the stop marker was reached."""
        queue = self._queue
        wants = self.wants
        items = []
        stop = False
        while queue and len(items) < _BATCH:
            item = queue.popleft()
            if item is _STOP:
                stop = True
                break
            items.append(item.payload(wants) if type(item) is PendingAlert else item)
        self._inflight = len(items)
        try:
            delivered, failed, error = emit_many(items)
        except Exception as exc:  # noqa: BLE001
            delivered, failed, error = 0, len(items), exc
        self._inflight = 0
        if self._abandoned:
            return True
        self.delivered += delivered
        self.failed += failed
        if error is not None:
            self._log_failure(error)
        self._collect_lost()
        if stop:
            self._stop_now()
        return stop

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
