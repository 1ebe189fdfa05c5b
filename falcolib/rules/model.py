"""Rules as values: Priority, List, Macro, RuleException, Rule.

These know nothing of YAML: ``reader.py`` builds them from rule files,
``dump.py`` writes them back, and Python code builds them directly::

    Rule("Shell in container", condition=..., output="...", priority="warning")

A condition is kept as filter-language text; an AST node (e.g. one built
with ``falcolib.rules.expr``) is turned into text with ``to_source()``.
"""
from __future__ import annotations

import enum
from typing import Any

import attrs

from falcolib.errors import Position

DEFAULT_SOURCE = "syscall"


class Priority(enum.Enum):
    """Falco's priorities, valued by the spelling Falco prints ("Warning", ...).

    ``severity`` orders them: 0 for EMERGENCY (most severe) to 7 for DEBUG;
    ``a < b`` means ``a`` is more severe than ``b``.
    """

    EMERGENCY = "Emergency"
    ALERT = "Alert"
    CRITICAL = "Critical"
    ERROR = "Error"
    WARNING = "Warning"
    NOTICE = "Notice"
    INFORMATIONAL = "Informational"
    DEBUG = "Debug"

    @property
    def label(self) -> str:
        """The spelling Falco prints ("Informational", "Warning", ...)."""
        return self.value

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    def __lt__(self, other: "Priority") -> bool:
        return self.severity < other.severity

    def __le__(self, other: "Priority") -> bool:
        return self.severity <= other.severity

    def __gt__(self, other: "Priority") -> bool:
        return self.severity > other.severity

    def __ge__(self, other: "Priority") -> bool:
        return self.severity >= other.severity

    @classmethod
    def parse(cls, value: "Priority | str") -> "Priority":
        """Accept any case of a Falco priority name, and "info" for INFORMATIONAL."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str):
            key = value.strip().upper()
            if key == "INFO":
                return cls.INFORMATIONAL
            try:
                return cls[key]
            except KeyError:
                pass
        names = ", ".join(p.label for p in cls)
        raise ValueError(f"invalid priority {value!r} (expected one of {names}, any case)")


_SEVERITY = {p: i for i, p in enumerate(Priority)}


def _text_or_source(value: Any) -> str:
    to_source = getattr(value, "to_source", None)
    return to_source() if to_source is not None else str(value)


def _str_tuple(values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)


def _tag_set(values: Any) -> tuple[str, ...]:
    """Tags are a set in Falco (sorted, no duplicates)."""
    return tuple(sorted(set(_str_tuple(values))))


@attrs.frozen
class List:
    """A named list of values, referenced by name inside ``(...)`` in conditions."""

    name: str
    items: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    position: Position | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Macro:
    """A named condition fragment, referenced by name in boolean position."""

    name: str
    condition: str = attrs.field(converter=_text_or_source)
    position: Position | None = attrs.field(default=None, eq=False, repr=False)


def _exc_part(value: Any) -> str | tuple | None:
    """fields/comps: one string, or a tuple of strings; None when absent."""
    if value is None or isinstance(value, str):
        return value
    return tuple(str(v) for v in value)


def _exc_value(value: Any) -> str | tuple:
    if isinstance(value, str):
        return value
    return tuple(_exc_value(v) for v in value)


def _exc_values(values: Any) -> tuple:
    return tuple(_exc_value(v) for v in values)


@attrs.frozen
class RuleException:
    """A named exception: when ``fields`` compare (``comps``) to one of ``values``, no alert.

    Single-field form: ``fields="proc.name"``, ``comps`` defaults to ``in``,
    ``values`` a tuple of strings. List form: ``fields=("proc.name",
    "fd.name")``, ``comps`` defaults to ``=`` each, and every value is a tuple
    with one entry per field (an entry may itself be a tuple: a set of values
    for ``in``-like operators, or a list name written as a plain string).
    """

    name: str
    fields: str | tuple[str, ...] | None = attrs.field(default=None, converter=_exc_part)
    comps: str | tuple[str, ...] | None = attrs.field(default=None, converter=_exc_part)
    values: tuple = attrs.field(default=(), converter=_exc_values)
    position: Position | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def effective_comps(self) -> str | tuple[str, ...]:
        """comps with Falco's defaults applied (``in``, or ``=`` per field)."""
        if self.comps is not None:
            return self.comps
        if isinstance(self.fields, tuple):
            return tuple("=" for _ in self.fields)
        return "in"


@attrs.frozen
class Rule:
    """A rule: when ``condition`` holds for an event, raise ``output`` at ``priority``."""

    name: str
    condition: str = attrs.field(converter=_text_or_source)
    output: str = ""
    priority: Priority = attrs.field(default=Priority.WARNING, converter=Priority.parse)
    desc: str = ""
    tags: tuple[str, ...] = attrs.field(default=(), converter=_tag_set)
    enabled: bool = True
    source: str = DEFAULT_SOURCE
    exceptions: tuple[RuleException, ...] = attrs.field(default=(), converter=tuple)
    warn_evttypes: bool = True
    skip_if_unknown_filter: bool = False
    capture: bool = False
    capture_duration: int = 0
    position: Position | None = attrs.field(default=None, eq=False, repr=False)
    output_position: Position | None = attrs.field(default=None, eq=False, repr=False)
    condition_position: Position | None = attrs.field(default=None, eq=False, repr=False)


Item = List | Macro | Rule
