"""syscall_event_drops: threshold, actions, token bucket, as Falco."""
from __future__ import annotations

import json
import logging

import pytest

from falcolib.config import load_config
from falcolib.droppolicy import DROP_RULE, DropMonitor, DropPolicy, TokenBucket

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Counters:
    """A backend's running totals (events read, dropped) that the test advances."""

    def __init__(self) -> None:
        self.read = 0
        self.dropped = 0

    def __call__(self) -> tuple[int, int]:
        return self.read, self.dropped


def run(policy: DropPolicy, seconds: list[tuple[int, int]]):
    """Feed one event per 100 ms; each second adds (read, dropped) to the counters.

    Returns the monitor, the alerts published and the False returns (exit requests)."""
    counters = Counters()
    alerts: list = []
    monitor = DropMonitor(policy, counters, alerts.append, hostname="h")
    exits = []
    ts = T0
    monitor.check(ts)

    def event() -> None:
        nonlocal ts
        ts += S // 10
        if ts > monitor.next_check and not monitor.check(ts):
            exits.append(ts)
    for read, dropped in seconds:
        for _ in range(10):
            event()
        counters.read += read  # what the backend counted during that second
        counters.dropped += dropped
    event()  # the first event of the next second triggers the last check
    return monitor, alerts, exits


class TestThreshold:
    """Actions fire when drops/events in a second exceed the threshold."""

    def test_below_and_above(self):
        """10% threshold: 5% drops nothing, 20% detects."""
        policy = DropPolicy(threshold=0.1, actions=("alert",), rate=100, max_burst=100)
        monitor, alerts, _ = run(policy, [(950, 50), (800, 200), (1000, 0)])
        assert monitor.detected == 1 and len(alerts) == 1
        alert = alerts[0]
        assert alert.rule == DROP_RULE and alert.priority == "Debug"
        assert alert.source == "internal"
        assert alert.output_fields == {"n_evts": "1000", "n_drops": "200"}
        assert alert.output == f"{DROP_RULE}. 200 system calls dropped in last second."
        assert json.loads(alert.to_json())["source"] == "internal"

    def test_zero_threshold_any_drop(self):
        """threshold 0: a single drop is detected."""
        monitor, _, _ = run(DropPolicy(threshold=0.0, actions=("log",)), [(10**6, 1)])
        assert monitor.detected == 1

    def test_simulate_drops(self):
        """simulate_drops: one drop per second, threshold 0."""
        policy = DropPolicy(threshold=0.9, actions=("alert",), rate=10, max_burst=10,
                            simulate_drops=True)
        monitor, alerts, _ = run(policy, [(100, 0)] * 3)
        assert monitor.detected >= 2 and alerts[0].output_fields["n_drops"] == "1"


class TestRateLimit:
    """The token bucket limits how often actions run, not detection."""

    def test_default_rate(self):
        """Falco's defaults (1 token, 1 per 30 s): 5 drop seconds in a row act once."""
        monitor, alerts, _ = run(DropPolicy(actions=("alert",)), [(100, 100)] * 6)
        assert monitor.detected == 5 and monitor.actions_taken == 1 and len(alerts) == 1

    def test_bucket_refills(self):
        """libsinsp's bucket: starts full, refills at rate per second, capped."""
        bucket = TokenBucket(rate=1.0, max_tokens=2.0, now=0)
        assert bucket.claim(0) and bucket.claim(0) and not bucket.claim(0)
        assert not bucket.claim(S // 2)
        assert bucket.claim(S + S // 2)
        assert bucket.claim(10 * S) and bucket.claim(10 * S) and not bucket.claim(10 * S)


class TestActions:
    """ignore, log, alert, exit."""

    def test_log(self, caplog):
        """log writes the message at WARNING."""
        with caplog.at_level(logging.WARNING, "falcolib.drops"):
            run(DropPolicy(actions=("log",)), [(100, 100), (100, 0)])
        assert any("system calls dropped in last second" in r.message for r in caplog.records)

    def test_exit(self):
        """exit makes check() return False."""
        monitor, alerts, exits = run(DropPolicy(actions=("exit",)), [(100, 100), (100, 0)])
        assert len(exits) == 1 and alerts == []

    def test_ignore(self):
        """ignore detects but does nothing."""
        monitor, alerts, exits = run(DropPolicy(actions=("ignore",)), [(100, 100)] * 2)
        assert monitor.detected == 1 and alerts == [] and exits == []

    def test_from_config(self):
        """The policy from --set values."""
        config = load_config(None, ["syscall_event_drops.actions=[alert, exit]",
                                    "syscall_event_drops.threshold=0.5"])
        policy = DropPolicy.from_config(config)
        assert policy.actions == ("alert", "exit") and policy.threshold == 0.5

    def test_summary(self):
        """Falco's end-of-run lines."""
        monitor, _, _ = run(DropPolicy(actions=("ignore",)), [(100, 100)])
        assert "event drop detected: 1 occurrences" in monitor.summary()

    @pytest.mark.parametrize("seconds", [[(0, 0)] * 3, [(100, 0)] * 3])
    def test_no_drops_no_detection(self, seconds):
        """No drops: nothing happens."""
        monitor, alerts, exits = run(DropPolicy(threshold=0.0), seconds)
        assert monitor.detected == 0 and alerts == [] and exits == []
