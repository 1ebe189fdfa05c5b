"""Health numbers: a Prometheus text-format endpoint and a periodic stats line.

No dependency: the exposition format (text 0.0.4) is a few lines to write, and the
stdlib's ThreadingHTTPServer serves it. A :class:`MetricsRegistry` gathers families from
collectors (callables), so the engine, the backend and the dispatcher each report what
they know without the registry knowing them:

    registry = MetricsRegistry([process_collector(), engine_collector(counters),
                                backend_collector(backend.stats), dispatcher_collector(disp)])
    server = MetricsServer(registry, "0.0.0.0", 8765).start()   # GET /metrics, /healthz
"""
from __future__ import annotations

import http.server
import logging
import os
import resource
import threading
import time
from typing import Any, Callable, Iterable

import attrs

__all__ = [
    "EngineCounters", "Family", "MetricsRegistry", "MetricsServer", "StatsTicker",
    "backend_collector", "dispatcher_collector", "engine_collector", "process_collector",
]

log = logging.getLogger("falcolib.metrics")

Labels = tuple[tuple[str, str], ...]


@attrs.frozen
class Family:
    """One metric family: name, kind (counter|gauge), help, samples (labels, value)."""

    name: str
    kind: str
    help: str
    samples: tuple[tuple[Labels, float], ...]

    def render(self) -> str:
        lines = [f"# HELP {self.name} {_escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            if labels:
                body = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{self.name}{{{body}}} {_number(value)}")
            else:
                lines.append(f"{self.name} {_number(value)}")
        return "\n".join(lines) + "\n"


def _escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def counter(name: str, help: str, samples: Iterable[tuple[Labels, float]]) -> Family:
    return Family(name, "counter", help, tuple(samples))


def gauge(name: str, help: str, samples: Iterable[tuple[Labels, float]]) -> Family:
    return Family(name, "gauge", help, tuple(samples))


Collector = Callable[[], Iterable[Family]]


class MetricsRegistry:
    """Collectors whose families make up one scrape."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self.collectors: list[Collector] = list(collectors)

    def add(self, collector: Collector) -> None:
        self.collectors.append(collector)

    def collect(self) -> list[Family]:
        families: list[Family] = []
        for collector in self.collectors:
            try:
                families.extend(collector())
            except Exception as exc:  # noqa: BLE001 - one broken collector spoils nothing else
                log.error("metrics collector %r failed: %s", collector, exc)
        return families

    def render(self) -> str:
        """The text exposition format (version 0.0.4)."""
        return "".join(f.render() for f in self.collect())

    def values(self) -> dict[str, float]:
        """Flat ``name{label=value}`` → value, for the stats line and the metrics alert."""
        out: dict[str, float] = {}
        for family in self.collect():
            for labels, value in family.samples:
                suffix = ",".join(f"{k}={v}" for k, v in labels)
                out[f"{family.name}{{{suffix}}}" if suffix else family.name] = value
        return out


# -- collectors ---------------------------------------------------------------------------
@attrs.define
class EngineCounters:
    """What the engine counts as events flow (mutable; updated by the engine loop only)."""

    events_read: int = 0          # events taken from the backend
    events_skipped: int = 0       # dropped before decoding: no rule/state wants the type
    events_evaluated: int = 0     # events that met at least one rule
    decode_errors: int = 0        # parameters that could not be decoded
    rule_evals: int = 0           # rule conditions evaluated
    rule_eval_ns: int = 0         # time spent evaluating them (sampled or total)
    reloads: int = 0
    reload_failures: int = 0
    started: float = attrs.field(factory=time.time)


def engine_collector(counters: Any) -> Collector:
    """From EngineCounters, or from the engine's RunStats (``events``, ``alerts``)."""
    def collect() -> Iterable[Family]:
        c = counters
        if not isinstance(c, EngineCounters):  # falcolib.engine.RunStats
            c = EngineCounters(events_read=getattr(c, "events", 0),
                               events_evaluated=getattr(c, "events", 0))
        yield counter("falcolib_events_total", "Events per stage of the engine.", [
            ((("stage", "read"),), c.events_read),
            ((("stage", "skipped"),), c.events_skipped),
            ((("stage", "evaluated"),), c.events_evaluated),
        ])
        yield counter("falcolib_decode_errors_total", "Event parameters that failed to decode.",
                      [((), c.decode_errors)])
        yield counter("falcolib_rule_evaluations_total", "Rule conditions evaluated.",
                      [((), c.rule_evals)])
        yield counter("falcolib_rule_evaluation_seconds_total",
                      "Time spent evaluating rule conditions.", [((), c.rule_eval_ns / 1e9)])
        yield counter("falcolib_reloads_total", "Rules/config reloads by outcome.", [
            ((("outcome", "ok"),), c.reloads), ((("outcome", "failed"),), c.reload_failures)])
        yield gauge("falcolib_uptime_seconds", "Seconds since the engine started.",
                    [((), round(time.time() - counters_started, 3))])
    counters_started = getattr(counters, "started", None)
    if not isinstance(counters_started, float) or counters_started < 1e9:
        counters_started = time.time()
    return collect


def backend_collector(stats: Callable[[], Any], name: str = "") -> Collector:
    """From a Backend's ``stats()`` (BackendStats): events read and dropped per stage."""
    def collect() -> Iterable[Family]:
        s = stats()
        base = (("backend", name),) if name else ()
        yield counter("falcolib_backend_events_read_total", "Events the backend delivered.",
                      [(base, s.events_read)])
        yield counter("falcolib_backend_events_dropped_total", "Events lost, per stage.", [
            (base + (("stage", "kernel"),), s.dropped_kernel),
            (base + (("stage", "queue"),), s.dropped_queue),
            (base + (("stage", "decode"),), s.dropped_decode),
        ])
        yield counter("falcolib_backend_events_filtered_total",
                      "Events removed by in-kernel filtering (not drops).",
                      [(base, s.filtered_kernel)])
    return collect


def dispatcher_collector(dispatcher: Any) -> Collector:
    """From a Dispatcher: alerts per rule and priority, each sink's queue and losses."""
    def collect() -> Iterable[Family]:
        st = dispatcher.stats()
        yield counter("falcolib_alerts_total", "Alerts raised per rule and priority.", [
            ((("rule", rule), ("priority", prio)), n) for (rule, prio), n in sorted(st.alerts.items())])
        yield gauge("falcolib_output_queue_depth", "Alerts waiting in each sink's queue.",
                    [((("sink", s.name),), s.depth) for s in st.sinks])
        yield gauge("falcolib_output_queue_capacity", "Capacity of each sink's queue.",
                    [((("sink", s.name),), s.capacity) for s in st.sinks])
        yield counter("falcolib_output_alerts_total", "Alerts per sink and outcome.", [
            ((("sink", s.name), ("outcome", outcome)), getattr(s, outcome))
            for s in st.sinks for outcome in ("delivered", "dropped", "failed", "discarded")])
    return collect


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def process_collector() -> Collector:
    def collect() -> Iterable[Family]:
        times = os.times()
        yield gauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                    [((), _rss_bytes())])
        yield gauge("process_max_resident_memory_bytes", "Peak resident memory in bytes.",
                    [((), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)])
        yield counter("process_cpu_seconds_total", "User and system CPU time spent.",
                      [((), round(times.user + times.system, 3))])
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = 0
        yield gauge("process_open_fds", "Open file descriptors.", [((), fds)])
    return collect


# -- serving ------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "falcolib"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        owner: MetricsServer = self.server.owner  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and owner.prometheus:
            body = owner.registry.render().encode()
            ctype = "text/plain; version=0.0.4; charset=utf-8"
        elif path == owner.healthz:
            body, ctype = b'{"status": "ok"}', "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class MetricsServer:
    """``GET /metrics`` (Prometheus text) and the health endpoint, in a daemon thread."""

    def __init__(self, registry: MetricsRegistry, host: str = "0.0.0.0", port: int = 8765, *,
                 healthz: str = "/healthz", prometheus: bool = True) -> None:
        self.registry = registry
        self.healthz = healthz
        self.prometheus = prometheus
        self._server = http.server.ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.owner = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> "MetricsServer":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="falcolib-metrics", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class StatsTicker:
    """Every ``interval`` seconds: a one-line summary (log) and, optionally, an internal
    ``Falco internal: metrics snapshot`` alert with the values as output_fields (Falco's
    ``metrics.output_rule``)."""

    RULE = "Falco internal: metrics snapshot"

    def __init__(self, registry: MetricsRegistry, interval: float, *,
                 publish: Callable[[Any], Any] | None = None, output_file: str = "",
                 hostname: str | None = None) -> None:
        self.registry = registry
        self.interval = interval
        self.publish = publish
        self.output_file = output_file
        self.hostname = hostname
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> str:
        values = self.registry.values()

        def total(prefix: str) -> int:
            return int(sum(v for k, v in values.items() if k.split("{")[0] == prefix))

        alerts = total("falcolib_alerts_total")
        read = values.get("falcolib_events_total{stage=read}",
                          total("falcolib_backend_events_read_total"))
        dropped = total("falcolib_backend_events_dropped_total")
        lost = int(sum(v for k, v in values.items() if k.startswith("falcolib_output_alerts_total")
                       and "outcome=delivered" not in k))
        rss = values.get("process_resident_memory_bytes", 0) / 1048576
        return (f"falcolib stats: events read={int(read)} dropped={dropped} alerts={alerts} "
                f"alerts_lost={lost} rss={rss:.1f}MB")

    def tick(self) -> str:
        text = self.line()
        log.info(text)
        if self.output_file:
            import json
            with open(self.output_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(self.registry.values(), sort_keys=True) + "\n")
        if self.publish is not None:
            from falcolib.outputs.alert import Alert
            fields = {k: v for k, v in self.registry.values().items()}
            self.publish(Alert.internal(time.time_ns(), self.RULE, "Informational", self.RULE,
                                        fields, self.hostname))
        return text

    def start(self) -> "StatsTicker":
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.tick()
        self._thread = threading.Thread(target=run, name="falcolib-stats", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
