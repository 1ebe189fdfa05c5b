"""Prometheus endpoint and the periodic stats line."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest

from falcolib.backend.model import BackendStats
from falcolib.metrics import (
    EngineCounters, MetricsRegistry, MetricsServer, StatsTicker, backend_collector,
    dispatcher_collector, engine_collector, process_collector,
)
from falcolib.outputs import Alert, Dispatcher, SinkRunner
from falcolib.outputs.sinks import CallableSink

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
                    r'(-?[0-9.e+]+)$')


def parse(text: str) -> dict[str, float]:
    """Strict parse of the text exposition format: every line valid, TYPE before samples."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge") and name not in typed
            typed.add(name)
            continue
        m = SAMPLE.match(line)
        assert m, f"bad exposition line: {line!r}"
        assert m.group(1) in typed, f"sample before its TYPE: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


@pytest.fixture
def world():
    """A dispatcher with one sink that fails on Debug alerts, engine and backend counters."""
    def sink(alert):
        if alert.priority == "Debug":
            raise RuntimeError("no")
    disp = Dispatcher([SinkRunner(CallableSink(sink, name="cb"), 16)]).start()
    counters = EngineCounters(events_read=1000, events_skipped=400, events_evaluated=600,
                              rule_evals=900, rule_eval_ns=1_500_000)
    backend = BackendStats(events_read=1000, dropped_kernel=7, dropped_queue=2)
    registry = MetricsRegistry([process_collector(), engine_collector(counters),
                                backend_collector(lambda: backend, "scap"),
                                dispatcher_collector(disp)])
    yield disp, registry
    disp.close()


class TestExposition:
    """The /metrics text is valid and carries the numbers."""

    def test_served_over_http(self, world):
        """GET /metrics: valid text format with every family; /healthz answers ok."""
        disp, registry = world
        for i, prio in enumerate(["Warning", "Warning", "Debug", "Error"]):
            disp.publish(Alert(time=i, rule='Rule "quoted"\nx', priority=prio, output="o",
                               hostname="h"))
        disp.close()
        server = MetricsServer(registry, "127.0.0.1", 0).start()
        try:
            base = f"http://127.0.0.1:{server.port}"
            with urllib.request.urlopen(base + "/metrics") as response:
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                samples = parse(response.read().decode())
            with urllib.request.urlopen(base + "/healthz") as response:
                assert json.loads(response.read()) == {"status": "ok"}
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(base + "/nope")
        finally:
            server.close()
        rule = 'rule="Rule \\"quoted\\"\\nx"'
        assert samples[f'falcolib_alerts_total{{{rule},priority="Warning"}}'] == 2
        assert samples[f'falcolib_alerts_total{{{rule},priority="Debug"}}'] == 1
        assert samples['falcolib_output_alerts_total{sink="cb",outcome="delivered"}'] == 3
        assert samples['falcolib_output_alerts_total{sink="cb",outcome="failed"}'] == 1
        assert samples['falcolib_output_queue_depth{sink="cb"}'] == 0
        assert samples['falcolib_output_queue_capacity{sink="cb"}'] == 16
        assert samples['falcolib_events_total{stage="read"}'] == 1000
        assert samples['falcolib_events_total{stage="skipped"}'] == 400
        assert samples["falcolib_rule_evaluation_seconds_total"] == 0.0015
        assert samples['falcolib_backend_events_dropped_total{backend="scap",stage="kernel"}'] == 7
        assert samples["process_resident_memory_bytes"] > 1_000_000

    def test_broken_collector_isolated(self):
        """A collector that raises spoils nothing else."""
        def broken():
            raise RuntimeError("boom")
        registry = MetricsRegistry([broken, process_collector()])
        assert "process_cpu_seconds_total" in parse(registry.render())


class TestStatsLine:
    """The periodic summary for people without Prometheus."""

    def test_line_and_alert(self, world, tmp_path):
        """tick(): one line with the totals, an internal alert, a JSON line in the file."""
        disp, registry = world
        disp.publish(Alert(time=1, rule="r", priority="Debug", output="o", hostname="h"))
        got = []
        out = tmp_path / "metrics.jsonl"
        ticker = StatsTicker(registry, 3600, publish=got.append, output_file=str(out))
        line = ticker.tick()
        assert line.startswith("falcolib stats: events read=1000 dropped=9 alerts=1 ")
        assert got[0].rule == StatsTicker.RULE and got[0].source == "internal"
        assert got[0].output_fields['falcolib_events_total{stage=read}'] == 1000
        assert json.loads(out.read_text())["falcolib_events_total{stage=read}"] == 1000

    def test_periodic(self, world):
        """start(): ticks every interval until closed."""
        disp, registry = world
        got = []
        ticker = StatsTicker(registry, 0.05, publish=got.append).start()
        import time
        time.sleep(0.3)
        ticker.close()
        assert len(got) >= 2


class TestEngineAdapter:
    """engine_collector reads the engine's RunStats too."""

    def test_runstats(self):
        """RunStats.events becomes events read and evaluated."""
        from falcolib.engine import RunStats
        stats = RunStats(events=42)
        samples = parse(MetricsRegistry([engine_collector(stats)]).render())
        assert samples['falcolib_events_total{stage="read"}'] == 42
        stats.events = 50
        assert parse(MetricsRegistry([engine_collector(stats)]).render())[
            'falcolib_events_total{stage="evaluated"}'] == 50
