"""The Alert value and its two renderings: Falco's text line and Falco's JSON alert.

Facts from Falco (userspace/engine/formats.cpp, userspace/falco/falco_outputs.cpp):
- text: ``<evt.time>: <Priority> <output>`` where evt.time is local ``HH:MM:SS.nnnnnnnnn``,
  or ``<evt.time.iso8601>`` (``2023-01-02T03:04:05.123456789+0000``) when
  ``time_format_iso_8601`` is set; the whole line is escaped like a JSON string body;
- JSON: keys sorted (nlohmann's map), ``time`` as RFC 3339 UTC with nanoseconds and ``Z``,
  ``output`` is the same prefixed line (unescaped, JSON-encoded), ``output_fields`` holds
  the format's fields plus the time field of the prefix (nanoseconds as an integer);
- internal alerts (source ``internal``: drop and metrics alerts) have no time prefix in
  their JSON ``output``, no ``tags`` key, and a text form ``... <msg> (k=v k=v)``.
"""
from __future__ import annotations

import json
import os
import socket
import time as _time
from typing import Any, Mapping

import attrs

from falcolib.outputs.escape import escape_text, sanitize_utf8

__all__ = [
    "PRIORITIES",
    "Alert",
    "AlertFormat",
    "default_hostname",
    "priority_name",
    "syslog_severity",
    "text_time",
    "iso8601_time",
    "rfc3339_time",
]

#: Falco's priorities, most severe first; the index is the syslog severity.
PRIORITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")
_PRIORITY_BY_SPELLING = {p.lower(): p for p in PRIORITIES}
_PRIORITY_BY_SPELLING["info"] = "Informational"
_SEVERITY = {p: i for i, p in enumerate(PRIORITIES)}
INTERNAL_SOURCE = "internal"


def priority_name(value: Any) -> str:
    """Falco's spelling of a priority given as text (any case, ``info``) or an enum member."""
    if isinstance(value, str):
        text = value
    else:
        text = getattr(value, "name", None) or str(value)
    try:
        return _PRIORITY_BY_SPELLING[text.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown priority {text!r} (expected one of {', '.join(PRIORITIES)})"
        ) from None


def syslog_severity(priority: str) -> int:
    """The syslog severity (0 emerg .. 7 debug) of a Falco priority name."""
    return _SEVERITY[priority]


def default_hostname() -> str:
    """The hostname alerts carry: $FALCO_HOSTNAME if set (as Falco), else gethostname()."""
    return os.environ.get("FALCO_HOSTNAME") or socket.gethostname()


def text_time(ts: int) -> str:
    """sysdig's ``%evt.time``: local ``HH:MM:SS.nnnnnnnnn`` (offset of now, as libsinsp)."""
    sec, nsec = divmod(ts, 1_000_000_000)
    local = (sec + _time.localtime().tm_gmtoff) % 86400
    return f"{local // 3600:02d}:{local % 3600 // 60:02d}:{local % 60:02d}.{nsec:09d}"


def iso8601_time(ts: int) -> str:
    """sysdig's ``%evt.time.iso8601``: ``2023-01-02T03:04:05.123456789+0000``."""
    sec, nsec = divmod(ts, 1_000_000_000)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec)) + f".{nsec:09d}+0000"


def rfc3339_time(ts: int) -> str:
    """Falco's JSON ``time``: ``2023-01-02T03:04:05.123456789Z`` (UTC)."""
    sec, nsec = divmod(ts, 1_000_000_000)
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(sec)) + f".{nsec:09d}Z"


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, (tuple, frozenset, set)):
        return list(value)
    return str(value)


def _fields(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value) if value else {}


@attrs.frozen
class Alert:
    """One alert: what a rule (or falcolib itself) raised about one event.

    ``time`` is the event timestamp in nanoseconds since the epoch; ``output`` is the rule's
    rendered output template (no time/priority prefix); ``output_fields`` the values of the
    template's fields (None for <NA>).
    """

    time: int
    rule: str
    priority: str = attrs.field(converter=priority_name)
    output: str
    output_fields: dict[str, Any] = attrs.field(factory=dict, converter=_fields, hash=False)
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    source: str = "syscall"
    hostname: str = attrs.field(factory=default_hostname)

    @classmethod
    def internal(cls, time: int, rule: str, priority: Any, message: str,
                 fields: Mapping[str, Any], hostname: str | None = None) -> "Alert":
        """An alert falcolib raises about itself (event drops, metrics), source ``internal``."""
        return cls(time=time, rule=rule, priority=priority, output=message, output_fields=fields,
                   source=INTERNAL_SOURCE, hostname=hostname or default_hostname())

    @property
    def severity(self) -> int:
        """The syslog severity of the priority (0 emergency .. 7 debug)."""
        return _SEVERITY[self.priority]

    def to_text(self, *, time_format_iso_8601: bool = False) -> str:
        """Falco's text line, escaped: one printable line whatever the fields contain."""
        return DEFAULT_FORMAT.evolve_iso(time_format_iso_8601).text(self)

    def to_json(self, *, time_format_iso_8601: bool = False, include_output: bool = True,
                include_tags: bool = True, include_message: bool = False,
                include_output_fields: bool = True) -> str:
        """Falco's JSON alert (one line, keys sorted as Falco prints them)."""
        fmt = AlertFormat(json_output=True, time_format_iso_8601=time_format_iso_8601,
                          include_output=include_output, include_tags=include_tags,
                          include_message=include_message,
                          include_output_fields=include_output_fields)
        return fmt.json(self)

    def to_dict(self, **options: bool) -> dict[str, Any]:
        """The JSON alert as a dict (what an HTTP receiver decodes)."""
        return json.loads(self.to_json(**options))


@attrs.frozen
class AlertFormat:
    """How alerts become lines: Falco's ``json_output`` and ``json_include_*`` options."""

    json_output: bool = False
    time_format_iso_8601: bool = False
    include_output: bool = True
    include_tags: bool = True
    include_message: bool = False
    include_output_fields: bool = True

    def evolve_iso(self, iso: bool) -> "AlertFormat":
        return self if iso == self.time_format_iso_8601 else attrs.evolve(self, time_format_iso_8601=iso)

    def render(self, alert: Alert) -> str:
        """The line every line-oriented sink writes: JSON or text per ``json_output``."""
        return self.json(alert) if self.json_output else self.text(alert)

    def _prefixed(self, alert: Alert) -> str:
        stamp = iso8601_time(alert.time) if self.time_format_iso_8601 else text_time(alert.time)
        return f"{stamp}: {alert.priority} {alert.output}"

    def text(self, alert: Alert) -> str:
        if alert.source != INTERNAL_SOURCE:
            return escape_text(self._prefixed(alert))
        pairs = " ".join(f"{key}={json.dumps(value, default=_json_default, ensure_ascii=False)}"
                         for key, value in alert.output_fields.items())
        # Our own message and JSON-encoded values: no raw control characters can occur.
        return f"{text_time(alert.time)}: {alert.priority} {alert.output} ({pairs})"

    def json(self, alert: Alert) -> str:
        if alert.source == INTERNAL_SOURCE:
            doc: dict[str, Any] = {
                "hostname": alert.hostname,
                "output": alert.output,
                "output_fields": alert.output_fields,
                "priority": alert.priority,
                "rule": alert.rule,
                "source": alert.source,
                "time": rfc3339_time(alert.time),
            }
        else:
            doc = {
                "hostname": alert.hostname,
                "priority": alert.priority,
                "rule": alert.rule,
                "source": alert.source,
                "time": rfc3339_time(alert.time),
            }
            if self.include_output:
                doc["output"] = self._prefixed(alert)
            if self.include_tags:
                doc["tags"] = sorted(set(alert.tags))
            if self.include_message:
                doc["message"] = alert.output
            if self.include_output_fields:
                fields = dict(alert.output_fields)
                time_key = "evt.time.iso8601" if self.time_format_iso_8601 else "evt.time"
                fields.setdefault(time_key, alert.time)
                doc["output_fields"] = fields
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          default=_json_default)
        return sanitize_utf8(text)


DEFAULT_FORMAT = AlertFormat()


class PendingAlert:
    """An alert on its way to the sinks, rendered lazily and at most once per form.

    The dispatcher queues one of these per alert to every sink; each sink's worker thread
    asks for the form it wants, so rendering happens off the event loop, once for all
    sinks, and never for an alert every queue had to drop.
    """

    __slots__ = ("alert", "format", "_line", "_json")

    def __init__(self, alert: Alert, fmt: AlertFormat) -> None:
        self.alert = alert
        self.format = fmt
        self._line: str | None = None
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = self.format.json(self.alert)
        return self._json

    def line(self) -> str:
        if self._line is None:
            self._line = self.json() if self.format.json_output else self.format.text(self.alert)
        return self._line

    def payload(self, wants: str) -> Any:
        """What a sink with ``wants`` (line, json, alert) receives."""
        if wants == "line":
            return self.line()
        if wants == "json":
            return self.json()
        return self.alert
