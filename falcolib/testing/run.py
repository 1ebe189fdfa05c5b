"""Run rules over events or captures and get the alerts back (no pytest needed)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

from falcolib.errors import RuleLoadError
from falcolib.testing.alerts import AlertList


class RulesProblem(AssertionError):
    """A ruleset failed to load; the message lists every issue as ``file:line:col CODE message``."""


def describe_issues(result) -> str:
    lines = []
    for issue in list(result.errors) + list(result.warnings):
        pos = issue.position
        where = f"{pos.file}:{pos.line}:{pos.column}" if pos is not None else "<rules>"
        code = getattr(issue.code, "value", issue.code)
        lines.append(f"{where} {code} {issue.message}")
    return "\n".join(lines)


def load_ruleset(*sources):
    """Load rule files, directories, YAML text or Python rule objects, in order.

    A load error raises RulesProblem with every issue, one per line.
    """
    from falcolib.rules import load_rules
    try:
        return load_rules(list(sources) if sources else None)
    except RuleLoadError as exc:
        raise RulesProblem("rules failed to load:\n" + describe_issues(exc.result)) from None


def find_capture(name: str | os.PathLike, dirs: Sequence[str | os.PathLike] = ()) -> Path:
    """A capture by path, or by file name in one of ``dirs`` (with or without .scap)."""
    p = Path(name)
    if p.exists():
        return p
    for d in dirs:
        for cand in (Path(d) / name, Path(d) / f"{name}.scap"):
            if cand.exists():
                return cand
    raise FileNotFoundError(f"capture {str(name)!r} not found in {[str(d) for d in dirs] or 'cwd'}")


def _backend(source, capture_dirs):
    from falcolib.backend import MemoryBackend
    if isinstance(source, (str, os.PathLike)):
        from falcolib_scap import ScapBackend
        return ScapBackend(str(find_capture(source, capture_dirs)))
    if hasattr(source, "__enter__") and hasattr(source, "snapshot"):
        return source
    snapshot = getattr(source, "snapshot", None)
    events = getattr(source, "raw_events", None)
    if events is not None:  # an EventBuilder
        return MemoryBackend(events(), snapshot() if callable(snapshot) else snapshot)
    return MemoryBackend(list(source))


def run_rules(rules, source, *, rule_matching: str = "first",
              capture_dirs: Iterable[str | os.PathLike] = ()) -> AlertList:
    """Alerts of ``rules`` (a Ruleset, or what load_ruleset takes) over ``source``.

    ``source`` is a capture path or name, a backend, an EventBuilder, or an
    iterable of RawEvents.
    """
    from falcolib.engine import Engine
    from falcolib.rules import Ruleset
    if not isinstance(rules, Ruleset):
        rules = load_ruleset(*(rules if isinstance(rules, (list, tuple)) else [rules]))
    engine = Engine(rules, rule_matching=rule_matching, hostname="falcolib-test")
    alerts = []
    with _backend(source, list(capture_dirs)) as backend:
        engine.run(backend, alerts.append)
    return AlertList(alerts)
