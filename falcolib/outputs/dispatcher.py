"""Fan-out of alerts to the sinks, with the counters stats and metrics report.

:meth:`Dispatcher.publish` is what the engine calls for each alert: it counts the alert
per (rule, priority) and hands it to every sink's queue without ever blocking; the sinks'
threads render it, once for all of them. :func:`build_dispatcher` makes the sinks a Config enables.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
from collections import Counter
from typing import Any, Callable, Iterable, TextIO

import attrs

from falcolib.outputs.alert import Alert, AlertFormat, PendingAlert
from falcolib.outputs.sinks.base import Sink, SinkRunner, SinkStats

__all__ = ["Dispatcher", "OutputStats", "build_dispatcher"]

log = logging.getLogger("falcolib.outputs")


@attrs.frozen
class OutputStats:
    """Alerts raised per (rule, priority) and each sink's counters."""

    alerts: dict[tuple[str, str], int]
    sinks: tuple[SinkStats, ...]

    @property
    def total(self) -> int:
        return sum(self.alerts.values())

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.sinks)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: alerts per rule and per priority, and each sink's counters."""
        per_priority: Counter = Counter()
        for (_rule, prio), n in self.alerts.items():
            per_priority[prio] += n
        return {"alerts": self.total, "alerts_per_rule": self.by_rule(),
                "alerts_per_priority": dict(per_priority), "lost": self.lost,
                "sinks": [dict(attrs.asdict(s), lost=s.lost) for s in self.sinks]}

    def by_rule(self) -> dict[str, int]:
        out: Counter = Counter()
        for (rule, _prio), n in self.alerts.items():
            out[rule] += n
        return dict(out)


class Dispatcher:
    """Sends each published alert to every sink runner."""

    def __init__(self, runners: Iterable[SinkRunner], fmt: AlertFormat | None = None) -> None:
        self.format = fmt or AlertFormat()
        self.runners: list[SinkRunner] = list(runners)
        self._counts: Counter = Counter()
        self._started = False
        self._lock = threading.Lock()

    def add(self, sink: Sink, capacity: int = 1024) -> SinkRunner:
        """Add a sink (e.g. a CallableSink); started now if the dispatcher runs."""
        runner = SinkRunner(sink, capacity)
        self.runners.append(runner)
        if self._started:
            runner.start()
        return runner

    def start(self) -> "Dispatcher":
        for runner in self.runners:
            runner.start()
        self._started = True
        return self

    def publish(self, alert: Alert) -> None:
        """Count and queue ``alert`` for every sink; never blocks, never raises for a sink.

        Rendering (text, JSON) happens in the sinks' threads, once for all of them.

        Safe from several threads (the engine loop, the stats ticker): an uncontended lock.
        """
        with self._lock:
            self._publish(alert)

    def _publish(self, alert: Alert) -> None:
        self._counts[(alert.rule, alert.priority)] += 1
        pending = PendingAlert(alert, self.format)
        for runner in self.runners:
            runner.submit(pending)

    def reopen(self) -> None:
        """Ask every sink to reopen (SIGUSR1: log rotation); safe from a signal handler."""
        for runner in self.runners:
            runner.reopen()

    def stats(self) -> OutputStats:
        return OutputStats(dict(self._counts), tuple(r.stats() for r in self.runners))

    def close(self, timeout: float = 2.0) -> OutputStats:
        """Let every sink deliver its queue (in parallel); a sink that makes no progress for
        ``timeout`` seconds is abandoned and its queue counted as discarded. Logs losses."""
        for runner in self.runners:
            runner.begin_close()
        for runner in self.runners:
            runner.close(timeout)
        stats = self.stats()
        for sink in stats.sinks:
            if sink.lost:
                log.warning("output %s: %d of %d alerts lost (%d queue full, %d failed, "
                            "%d discarded at exit)", sink.name, sink.lost, sink.submitted,
                            sink.dropped, sink.failed, sink.discarded)
        return stats

    def install_sigusr1(self) -> None:
        """Reopen the sinks on SIGUSR1 (main thread only), as Falco does for log rotation."""
        signal.signal(signal.SIGUSR1, lambda _sig, _frame: self.reopen())

    def __enter__(self) -> "Dispatcher":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def build_dispatcher(config: Any, *, stream: TextIO | None = None,
                     callables: Iterable[Callable[[Alert], Any]] = (),
                     replay: bool = False) -> Dispatcher:
    """The dispatcher a :class:`falcolib.config.Config` describes (not started).

    ``replay=True`` (a capture, not a live kernel): a full sink queue makes the event loop
    wait while that sink keeps delivering (up to ``output_timeout`` without progress), so
    a replay loses no alert to a merely slow receiver. Live runs never wait.
    """
    from falcolib.outputs.sinks.callable import CallableSink
    from falcolib.outputs.sinks.file import FileSink
    from falcolib.outputs.sinks.http import HttpSink
    from falcolib.outputs.sinks.program import ProgramSink
    from falcolib.outputs.sinks.stdout import StdoutSink
    from falcolib.outputs.sinks.syslog import SyslogSink

    fmt = AlertFormat(json_output=config.json_output,
                      time_format_iso_8601=config.time_format_iso_8601,
                      include_output=config.json_include_output_property,
                      include_tags=config.json_include_tags_property,
                      include_message=config.json_include_message_property,
                      include_output_fields=config.json_include_output_fields_property)
    capacity = config.outputs_queue.capacity or 1024
    buffered = config.buffered_outputs
    block = config.output_timeout / 1000.0 if replay else 0.0
    runners: list[SinkRunner] = []

    def runner(sink: Any) -> SinkRunner:
        return SinkRunner(sink, capacity, block=block)

    if config.stdout_output.enabled:
        runners.append(runner(StdoutSink(stream or sys.stdout, buffered=buffered)))
    c = config.file_output
    if c.enabled:
        runners.append(runner(FileSink(c.filename, keep_alive=c.keep_alive, buffered=buffered)))
    c = config.syslog_output
    if c.enabled:
        runners.append(runner(SyslogSink(fmt.render, transport=c.transport, path=c.path,
                                         host=c.host, port=c.port, facility=c.facility,
                                         ident=c.ident)))
    c = config.program_output
    if c.enabled:
        runners.append(runner(ProgramSink(c.program, keep_alive=c.keep_alive,
                                          buffered=buffered)))
    c = config.http_output
    if c.enabled:
        runners.append(runner(HttpSink(
            c.url, user_agent=c.user_agent, insecure=c.insecure, ca_cert=c.ca_cert,
            ca_bundle=c.ca_bundle, ca_path=c.ca_path, mtls=c.mtls, client_cert=c.client_cert,
            client_key=c.client_key, echo=c.echo, keep_alive=c.keep_alive,
            timeout=config.output_timeout / 1000.0, retries=c.max_consecutive_timeouts)))
    for fn in callables:
        runners.append(runner(CallableSink(fn)))
    return Dispatcher(runners, fmt)

