"""Rules over the kernel-module backend raise the alerts a replay of the same capture raises.

Each capture is written through simulated per-CPU rings (the driver's
kernel-side filtering set from the rules' event types) while the engine
consumes them; the state starts from the capture's own state blocks, as a
live run starts from the host's.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from falcolib.engine import Engine
from falcolib.errors import RuleLoadError
from falcolib.rules import RulesText, default_rules_paths, load_rules
from falcolib.state import State
from falcolib_kmod import KmodBackend
from falcolib_kmod.sim import Producer, SimDriver, spread_events
from falcolib_scap import ScapBackend

REPO = Path(__file__).resolve().parents[3]
SHARED = (REPO / ".." / "shared").resolve()
CAPTURES = sorted((SHARED / "captures").glob("*.scap"))
pytestmark = pytest.mark.skipif(not CAPTURES, reason="shared captures not found")

# the bundled rules, with lists extended so that the shared captures trigger them
TUNING = "".join(
    f"- list: {name}\n  items: [{', '.join(items)}]\n  override:\n    items: append\n"
    for name, items in (("falcolib_shell_binaries", ["ls"]),
                        ("falcolib_sensitive_files", ["/etc/ld.so.cache"]),
                        ("falcolib_system_binaries", ["curl"])))


def _key(alert):
    return alert.time, alert.rule, alert.priority, alert.output, alert.tags


def replay_alerts(ruleset, capture: Path):
    engine = Engine(ruleset, rule_matching="all")
    alerts = []
    with ScapBackend(capture, types=engine.wanted_types()) as b:
        engine.run(b, alerts.append)
    return [_key(a) for a in alerts]


def kmod_alerts(ruleset, capture: Path, root: Path, api=(1, 0, 0), ncpus=3):
    with ScapBackend(capture) as b:
        snapshot = b.snapshot()
        raws = list(b)
    if any(a.ts > b.ts for a, b in zip(raws, raws[1:])):
        ncpus = 1  # timestamps go back: one CPU keeps the capture's order
    drv = SimDriver(root, ncpus, api=api, schema=(1, 0, 0) if api[0] == 1 else (4, 5, 1),
                    buffer_bytes_dim=32 * 1024)
    engine = Engine(ruleset, rule_matching="all")
    alerts = []
    with KmodBackend(types=engine.wanted_types(), devices_glob=drv.devices_glob,
                     driver=drv) as backend:
        producer = Producer(drv, spread_events(raws, ncpus, seed=11), pause_every=61,
                            pause=0.0003)

        def watch():
            producer.join()
            backend.stop()

        producer.start()
        threading.Thread(target=watch, daemon=True).start()
        engine.run(backend, alerts.append, state=State(snapshot))
        assert producer.error is None
        dropped = backend.stats().dropped
    drv.close()
    assert dropped == 0
    return [_key(a) for a in alerts], producer.skipped


@pytest.fixture(scope="module")
def tuned_rules():
    return load_rules([*default_rules_paths(), RulesText(TUNING, "tuning.yaml")])


class TestBundledRules:
    """The bundled rules (tuned to fire on the shared captures) alert identically over kmod."""

    @pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
    def test_same_alerts(self, path, tuned_rules, tmp_path):
        got, _ = kmod_alerts(tuned_rules, path, tmp_path)
        assert got == replay_alerts(tuned_rules, path)

    def test_alerts_do_fire(self, tuned_rules, tmp_path):
        path = next(p for p in CAPTURES if p.name == "curl_google.scap")
        got, skipped = kmod_alerts(tuned_rules, path, tmp_path, api=(10, 1, 0))
        # curl reads /etc/ld.so.cache (tuned as sensitive) and connects twice (DNS, HTTP)
        assert [a[1] for a in got].count("System Binary Network Connection") == 2
        assert "Read of Sensitive File" in [a[1] for a in got]
        assert got == replay_alerts(tuned_rules, path)
        assert skipped > 0   # the driver filtered what no rule and no state handler needs


class TestOfficialRules:
    """Falco's own rules file alerts identically over kmod."""

    @pytest.fixture(scope="class")
    @classmethod
    def official(cls):
        path = SHARED / "rules" / "falco_rules.yaml"
        if not path.exists():
            pytest.skip("falco_rules.yaml not in ../shared/rules")
        try:
            return load_rules([path])
        except RuleLoadError as exc:
            pytest.skip(f"the official rules do not load yet: {exc}")

    @pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
    def test_same_alerts(self, path, official, tmp_path):
        got, _ = kmod_alerts(official, path, tmp_path)
        assert got == replay_alerts(official, path)


class TestDropsReachTheEngine:
    """Kernel drops show in the run's statistics (what --stats prints)."""

    def test_run_stats(self, tuned_rules, tmp_path):
        path = next(p for p in CAPTURES if p.name == "psp_run_as_user_0_container.scap")
        with ScapBackend(path) as b:
            raws = list(b)
        drv = SimDriver(tmp_path, 1, buffer_bytes_dim=16 * 1024)
        engine = Engine(tuned_rules)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as backend:
            prod = Producer(drv, spread_events(raws, 1), policy="drop")
            prod.run()     # a burst larger than the buffer, before the engine reads
            backend.stop()
            stats = engine.run(backend, lambda alert: None, state=State())
        drv.close()
        assert sum(prod.dropped.values()) > 0
        d = stats.as_dict()
        assert d["events_dropped"] == sum(prod.dropped.values())
        assert d["events_read"] == len(prod.written) == stats.events
        assert d["backend"]["extra"]["cpu0.n_drops_buffer"] == prod.dropped[0]
