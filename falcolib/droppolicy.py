"""Falco's ``syscall_event_drops``: notice events lost by the capture and act on it.

Semantics (Falco userspace/falco/event_drops.cpp): once per second of *event time*, the
backend's counters are read; if events were dropped in that second and
``drops / events > threshold``, a drop is detected and, if the token bucket (``rate``
tokens per second, at most ``max_burst``) has a token, the actions run in Falco's order:
``ignore`` (nothing), ``log``, ``alert`` (an internal Debug alert), ``exit`` (the engine
stops). ``simulate_drops`` adds one drop each second and sets the threshold to 0.

Differences, on purpose: "events" is read + dropped (a dropped event was never read);
``log`` logs at WARNING (Falco logs at DEBUG, invisible by default); the alert's rule is
``falcolib: events dropped``.

The engine calls :meth:`DropMonitor.check` only when ``ts > monitor.next_check`` so the
per-event cost is one comparison.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import attrs

from falcolib.outputs.alert import Alert

__all__ = ["DROP_RULE", "DropMonitor", "DropPolicy", "TokenBucket"]

log = logging.getLogger("falcolib.drops")

DROP_RULE = "falcolib: events dropped"
_SECOND = 1_000_000_000


@attrs.frozen
class DropPolicy:
    """The ``syscall_event_drops`` settings."""

    threshold: float = 0.1
    actions: tuple[str, ...] = ("log", "alert")
    rate: float = 0.03333
    max_burst: float = 1.0
    simulate_drops: bool = False

    @classmethod
    def from_config(cls, config: Any) -> "DropPolicy":
        """From a Config (or its ``syscall_event_drops`` section)."""
        section = getattr(config, "syscall_event_drops", config)
        return cls(section.threshold, tuple(section.actions), section.rate, section.max_burst,
                   section.simulate_drops)


class TokenBucket:
    """libsinsp's token bucket: starts full, gains ``rate`` tokens per second up to the max."""

    def __init__(self, rate: float, max_tokens: float, now: int) -> None:
        self.rate = rate
        self.max_tokens = max_tokens
        self.tokens = max_tokens
        self.last_seen = now

    def claim(self, now: int, tokens: float = 1.0) -> bool:
        gained = self.rate * ((now - self.last_seen) / 1e9)
        self.last_seen = now
        self.tokens = min(self.max_tokens, self.tokens + gained)
        if self.tokens < tokens:
            return False
        self.tokens -= tokens
        return True


class DropMonitor:
    """Watches a backend's drop counters as events flow; see the module docstring.

    ``counters()`` returns ``(events_read, events_dropped)`` totals (e.g. from
    ``BackendStats``: ``events_read``, ``dropped``); ``publish(alert)`` sends an alert
    (``Dispatcher.publish``); ``hostname`` goes on the alert.
    """

    def __init__(self, policy: DropPolicy, counters: Callable[[], tuple[int, int]],
                 publish: Callable[[Alert], Any] | None = None, *, hostname: str | None = None,
                 backend_name: str = "") -> None:
        self.policy = policy
        self.counters = counters
        self.publish = publish
        self.hostname = hostname
        self.backend_name = backend_name
        self.threshold = 0.0 if policy.simulate_drops else policy.threshold
        self.actions = tuple(a for a in ("ignore", "log", "alert", "exit") if a in policy.actions)
        self.next_check = 0  # the engine calls check(ts) when ts > next_check
        self._bucket: TokenBucket | None = None
        self._last = counters()
        self.detected = 0
        self.actions_taken = 0

    def check(self, ts: int) -> bool:
        """Called with an event timestamp; False means an ``exit`` action fired."""
        if self.next_check == 0:
            self.next_check = ts + _SECOND
            self._bucket = TokenBucket(self.policy.rate, self.policy.max_burst, ts)
            return True
        if ts <= self.next_check:
            return True
        self.next_check = ts + _SECOND
        read, dropped = self.counters()
        d_read, d_drops = read - self._last[0], dropped - self._last[1]
        self._last = (read, dropped)
        if self.policy.simulate_drops:
            d_drops += 1
        if d_drops <= 0:
            return True
        n_evts = d_read + d_drops
        if d_drops / n_evts <= self.threshold:
            return True
        self.detected += 1
        assert self._bucket is not None
        if not self._bucket.claim(ts):
            log.debug("events dropped but the token bucket is empty: no action")
            return True
        self.actions_taken += 1
        return self._act(ts, n_evts, d_drops)

    def _act(self, ts: int, n_evts: int, n_drops: int) -> bool:
        message = f"{DROP_RULE}. {n_drops} system calls dropped in last second."
        keep_going = True
        for action in self.actions:
            if action == "log":
                log.warning(message)
            elif action == "alert" and self.publish is not None:
                fields = {"n_evts": str(n_evts), "n_drops": str(n_drops)}
                if self.backend_name:
                    fields["backend"] = self.backend_name
                self.publish(Alert.internal(ts, DROP_RULE, "Debug", message, fields,
                                            self.hostname))
            elif action == "exit":
                log.critical(message)
                log.critical("Exiting.")
                keep_going = False
        return keep_going

    def summary(self) -> str:
        """Falco's end-of-run lines about drop monitoring."""
        return ("Syscall event drop monitoring:\n"
                f"   - event drop detected: {self.detected} occurrences\n"
                f"   - num times actions taken: {self.actions_taken}")
