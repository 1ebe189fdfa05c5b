"""A Python callable as a sink, for library users: ``fn(alert)`` in the sink's thread."""
from __future__ import annotations

from typing import Any, Callable

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["CallableSink"]


class CallableSink(BaseSink):
    """Calls ``fn`` with each Alert (``wants="alert"``), or with its line or JSON."""

    def __init__(self, fn: Callable[[Any], Any], *, name: str | None = None,
                 wants: str = "alert") -> None:
        if wants not in ("alert", "line", "json"):
            raise ValueError(f"wants must be 'alert', 'line' or 'json' (got {wants!r})")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self.wants = wants

    def emit(self, item: Any) -> None:
        self.fn(item)
