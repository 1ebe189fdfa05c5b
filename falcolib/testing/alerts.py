"""Alerts returned by a test run, with assertions that read like the intent.

    alerts = run_rules(ruleset, "psp_privileged.scap")
    alerts.of_rule("Terminal shell in container").assert_count(1)
    alerts.assert_never("Write below etc")
    alerts.of_rule("Read sensitive file untrusted").assert_fields(**{"fd.name": "/etc/shadow"})

Failures raise AlertAssertionError (an AssertionError) whose message shows
what was expected and a readable summary of what fired.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Iterator, Sequence

from falcolib.outputs.alert import Alert


class AlertAssertionError(AssertionError):
    """An alert expectation did not hold; the message lists what did fire."""


def _summary(alerts: Sequence[Alert], limit: int = 20) -> str:
    if not alerts:
        return "  (no alerts)"
    counts = Counter(a.rule for a in alerts)
    lines = [f"  {n:5d} x {rule}" for rule, n in counts.most_common()]
    sample = [f"    - {a.priority}: {a.output}" for a in alerts[:limit]]
    more = f"\n    ... {len(alerts) - limit} more" if len(alerts) > limit else ""
    return "\n".join(lines) + "\n  first alerts:\n" + "\n".join(sample) + more


class AlertList(Sequence[Alert]):
    """An immutable list of alerts with filters and assertions."""

    __slots__ = ("_alerts", "_what")

    def __init__(self, alerts: Iterable[Alert] = (), what: str = "alerts"):
        self._alerts = tuple(alerts)
        self._what = what

    def __getitem__(self, i):
        return self._alerts[i]

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self) -> Iterator[Alert]:
        return iter(self._alerts)

    def __repr__(self) -> str:
        return f"<AlertList {self._what}: {len(self)} alerts>"

    def count(self) -> int:  # type: ignore[override]  # reads as .of_rule(x).count()
        """How many alerts are in this list."""
        return len(self._alerts)

    def rules(self) -> Counter:
        """Alerts per rule name."""
        return Counter(a.rule for a in self._alerts)

    def of_rule(self, name: str) -> "AlertList":
        return AlertList((a for a in self._alerts if a.rule == name), f"of rule {name!r}")

    def with_priority(self, priority: str) -> "AlertList":
        p = priority.lower()
        return AlertList((a for a in self._alerts if a.priority.lower() == p), f"priority {priority}")

    def where(self, **fields) -> "AlertList":
        """Alerts whose output_fields equal every given value (keys with dots via **{...})."""
        return AlertList((a for a in self._alerts
                          if all(a.output_fields.get(k) == v for k, v in fields.items())),
                         f"{self._what} where {fields}")

    # --- assertions --------------------------------------------------------
    def assert_count(self, expected: int) -> "AlertList":
        if len(self) != expected:
            raise AlertAssertionError(
                f"expected {expected} {self._what}, got {len(self)}:\n{_summary(self._alerts)}")
        return self

    def assert_any(self) -> "AlertList":
        if not self._alerts:
            raise AlertAssertionError(f"expected at least one alert {self._what}, got none")
        return self

    def assert_fires(self, rule: str, times: int | None = None) -> "AlertList":
        hits = self.of_rule(rule)
        if times is None and not hits:
            raise AlertAssertionError(
                f"expected rule {rule!r} to fire, it did not; what fired:\n{_summary(self._alerts)}")
        if times is not None and len(hits) != times:
            raise AlertAssertionError(
                f"expected rule {rule!r} to fire {times} times, it fired {len(hits)} times; "
                f"what fired:\n{_summary(self._alerts)}")
        return hits

    def assert_never(self, rule: str | None = None) -> "AlertList":
        hits = self.of_rule(rule) if rule is not None else self
        if hits:
            who = f"rule {rule!r}" if rule is not None else "any rule"
            raise AlertAssertionError(
                f"expected {who} never to fire, it fired {len(hits)} times:\n{_summary(hits._alerts)}")
        return self

    def assert_fields(self, **expected) -> "AlertList":
        """Every alert here has these output_fields values (``**{"fd.name": "/etc/shadow"}``)."""
        self.assert_any()
        for a in self._alerts:
            wrong = {k: (v, a.output_fields.get(k, "<missing>")) for k, v in expected.items()
                     if a.output_fields.get(k, "<missing>") != v}
            if wrong:
                diff = "\n".join(f"    {k}: expected {v!r}, got {got!r}" for k, (v, got) in wrong.items())
                raise AlertAssertionError(f"alert of rule {a.rule!r} has different fields:\n{diff}\n"
                                          f"  output: {a.output}")
        return self

    def assert_output_contains(self, *texts: str) -> "AlertList":
        self.assert_any()
        for a in self._alerts:
            missing = [t for t in texts if t not in a.output]
            if missing:
                raise AlertAssertionError(f"alert of rule {a.rule!r} lacks {missing!r} in its "
                                          f"output:\n  {a.output}")
        return self
