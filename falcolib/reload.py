"""Reloading rules and configuration while events keep flowing.

Two parts, so the event loop stays in charge:

- :class:`ReloadTrigger` turns SIGHUP (and, with ``watch_config_files``, a change to the
  config or a rules file, polled once a second by a thread) into a flag. Signal handlers
  and the watcher only set the flag; they never touch engine state.
- :class:`Reloader` is called by the engine loop when ``trigger.pending`` is true: it
  re-runs the load function (config + rules, fully validated) and returns the new value,
  or — when loading fails — logs why and returns None so the engine keeps what it has.

Engine loop hook (one attribute read per event, or per batch):

    if trigger.pending:
        loaded = reloader.reload(trigger.take())
        if loaded is not None:
            config, ruleset = loaded
            ...swap ruleset; backend.set_types(ruleset.evttypes() | state types)
"""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Callable, Generic, Iterable, TypeVar

from falcolib.errors import FalcolibError

__all__ = ["ReloadTrigger", "Reloader", "watched_files"]

log = logging.getLogger("falcolib.reload")

T = TypeVar("T")


def watched_files(paths: Iterable[str]) -> list[str]:
    """The files to watch: each path, and a directory's ``*.yaml``/``*.yml`` files."""
    out: list[str] = []
    for path in paths:
        p = Path(path)
        if p.is_dir():
            out.append(str(p))  # its own mtime changes when files come or go
            out.extend(str(f) for f in sorted(p.iterdir()) if f.suffix in (".yaml", ".yml"))
        else:
            out.append(str(p))
    return out


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class ReloadTrigger:
    """A flag set by SIGHUP, by :meth:`request`, or by a watched file changing."""

    def __init__(self, paths: Iterable[str] = (), *, watch: bool = False,
                 interval: float = 1.0) -> None:
        self.paths = list(paths)
        self.watch = watch
        self.interval = interval
        self.pending = False
        self.reason = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_handler = None

    def request(self, reason: str = "requested") -> None:
        self.reason = reason
        self.pending = True

    def take(self) -> str:
        """Clear the flag; return why it was set."""
        reason, self.reason, self.pending = self.reason, "", False
        return reason

    def install(self) -> "ReloadTrigger":
        """Handle SIGHUP (main thread only) and start the watcher if enabled."""
        self._previous_handler = signal.signal(
            signal.SIGHUP, lambda _sig, _frame: self.request("SIGHUP"))
        if self.watch and self.paths:
            self._thread = threading.Thread(target=self._watch, name="falcolib-reload-watch",
                                            daemon=True)
            self._thread.start()
        return self

    def _snapshot(self) -> dict[str, tuple[int, int, int] | None]:
        return {path: _signature(path) for path in watched_files(self.paths)}

    def _watch(self) -> None:
        seen = self._snapshot()
        while not self._stop.wait(self.interval):
            now = self._snapshot()
            if now != seen:
                changed = sorted(p for p in set(now) | set(seen) if now.get(p) != seen.get(p))
                seen = now
                self.request(f"changed: {', '.join(changed)}")

    def close(self) -> None:
        self._stop.set()
        if self._previous_handler is not None:
            signal.signal(signal.SIGHUP, self._previous_handler)
            self._previous_handler = None


class Reloader(Generic[T]):
    """Runs ``load`` again on request; a failure keeps the old value and says why."""

    def __init__(self, load: Callable[[], T]) -> None:
        self.load = load
        self.reloads = 0
        self.failures = 0
        self.last_error: str = ""

    def reload(self, reason: str = "") -> T | None:
        """The newly loaded value, or None (logged) if it failed to load or validate."""
        try:
            value = self.load()
        except (FalcolibError, OSError) as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.error("reload (%s) failed, keeping the previous rules and config: %s",
                      reason or "requested", exc)
            return None
        self.reloads += 1
        self.last_error = ""
        log.info("reloaded rules and config (%s)", reason or "requested")
        return value
