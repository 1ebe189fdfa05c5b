"""The engine: backend → decode → state → rules/filter → alerts, in one screen.

``Engine`` runs a Ruleset over any backend and hands each Alert to a sink
callable; ``iter_views`` is the same path without rules (``falcolib
events``, notebooks). Event types nobody wants — no active rule, no state
handler, no filter — are never decoded: the backend skips them by header
(replay) or the kernel never sends them (live).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable, Iterator

import attrs

from falcolib.backend.model import BackendStats
from falcolib.decode.event import Event
from falcolib.decode.table import SYSDIG_EVENT_MAX
from falcolib.decode.visibility import CONTAINER_TYPES, sysdig_hides
from falcolib.state import State
from falcolib.state.view import EventView

if TYPE_CHECKING:   # imported when an alert is made: the events CLI never needs it
    from falcolib.outputs.alert import Alert


# events of one type its rules run on one by one before they are made one function
# (``Ruleset.sequence_for``): making it costs about as much as ~1,000 events save
SEQUENCE_AFTER = 1000


def state_types(enterless: bool = False, fields=None, *, sysdig_order: bool = False) -> frozenset[int]:
    """Event types the state engine must see to keep threads and fds right; with
    ``fields`` (canonical field names), only what those fields' answers depend on."""
    from falcolib.state import wanted_types
    return wanted_types(enterless, fields, sysdig_order=sysdig_order)


def wanted_types(consumer: frozenset[int] | None, *, with_state: bool = True,
                 enterless: bool = False, fields=None,
                 sysdig_order: bool = False) -> frozenset[int] | None:
    """What a backend must deliver: the consumer's types plus the state's (None = all).

    ``enterless``: for a backend whose exit events carry their call's parameters
    (``exits_carry_params``, the eBPF backend): the state does without the enter
    events those exits make unneeded (about half of a live event stream).
    ``fields``: the field names (as written or canonical) the consumer extracts from
    the events it gets: the state then gets only the event types those fields need
    (``falcolib.state.groups``; "lean state"); None (all events) when they read what
    every event leaves (evt.reltime, evt.latency, evt.deltatime) or are unknown.
    ``fields=None``: every state type.
    ``sysdig_order`` (with ``fields``): ``consumer`` is what a filter evaluated before
    the parsers (``State(sysdig_filter_order=True)``) can be true on; the state types
    whose parser then runs only on passing events are left out too.
    """
    if consumer is None:
        return None
    if not with_state:
        return consumer
    # the state pairs an exit with its enter (the fd it uses, its latency): the other
    # half of each consumer type too (a rule set's types hold exits only)
    consumer = consumer | pair_halves(consumer, enterless)
    if fields is None:
        return consumer | state_types(enterless)
    from falcolib.state.groups import canonical, lookup_only_types, needs_every_event
    fields = canonical(fields)
    if needs_every_event(fields):
        return None   # evt.reltime, latencies...: every event of the capture counts
    if consumer & lookup_only_types() and not fields <= STATELESS_FIELDS:
        # thread fields on switch/procinfo/page faults: a thread unknown to the snapshot
        # exists there only if an earlier event of any type made its placeholder
        return None
    return consumer | state_types(enterless, fields, sysdig_order=sysdig_order)


# event categories and flags of the driver's event table (ppm_events_public.h)
_EC_SYSCALL, _EC_TRACEPOINT, _EC_IO_READ, _EC_IO_WRITE = 1 << 9, 1 << 10, 32, 33
_EF_MODIFIES_STATE = 1 << 5


def high_volume_types() -> frozenset[int]:
    """The event types of the I/O syscalls Falco leaves off unless asked (``-A``,
    ``base_syscalls.all``): those of category read or write whose events do not
    modify the state (read, write, readv, pread, send, recv, sendfile...; not
    sendto/recvfrom/sendmsg/recvmsg, which can carry a socket's address).
    Both halves of each syscall."""
    from falcolib.decode.table import EVENTS
    io: set[str] = set()
    state: set[str] = set()
    for e in EVENTS:
        if not e.category & (_EC_SYSCALL | _EC_TRACEPOINT):
            continue
        if e.category & ~(_EC_SYSCALL | _EC_TRACEPOINT) in (_EC_IO_READ, _EC_IO_WRITE):
            io.add(e.name)
        if e.flags & _EF_MODIFIES_STATE:
            state.add(e.name)
    names = io - state
    return frozenset(t for t, e in enumerate(EVENTS) if e.name in names)


def pair_halves(types: frozenset[int], enterless: bool = False) -> frozenset[int]:
    """The other half of the enter/exit pair of each type (without the enters an
    ``enterless`` state does without)."""
    from falcolib.decode.table import EVENTS
    n = len(EVENTS)
    out = frozenset(t ^ 1 for t in types if t ^ 1 < n) - types
    if enterless and out:
        from falcolib.state.engine import enterless_types
        out -= enterless_types(out)
    return out


# Fields answered by the event alone (header and parameters): a consumer that
# uses only these needs no state engine, so a replay skips the thread/fd
# tables and decodes only the events of the types it asks for.
STATELESS_FIELDS = frozenset({
    "evt.num", "evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.datetime.s",
    "evt.rawtime", "evt.rawtime.s", "evt.rawtime.ns", "evt.outputtime", "evt.dir", "evt.type",
    "evt.type.is", "syscall.type", "evt.cpu", "evt.rawarg", "evt.buffer", "evt.res",
    "evt.rawres", "evt.failed", "evt.is_io", "evt.is_io_read", "evt.is_io_write", "evt.io_dir",
    "evt.is_wait", "evt.count", "evt.count.error", "evt.count.error.memory", "evt.count.exit",
    "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "evt.is_open_create",
    "thread.tid",
})


def needs_state(field_names) -> bool:
    """Whether extracting these fields (names as written) needs the state engine."""
    from falcolib.errors import FalcolibError
    from falcolib.fields import lookup
    for name in field_names:
        try:
            if lookup(name).name not in STATELESS_FIELDS:
                return True
        except FalcolibError:
            return True
    return False


_HIDDEN: list[bool] | None = None


def hidden_types() -> list[bool]:
    """Per event type code (0..65535): whether sysdig never prints it, whatever its flags."""
    global _HIDDEN
    if _HIDDEN is None:
        # sysdig_hides(t) is True for every t >= SYSDIG_EVENT_MAX: only the codes below ask
        _HIDDEN = [sysdig_hides(t) for t in range(SYSDIG_EVENT_MAX)]
        _HIDDEN += [True] * ((1 << 16) - SYSDIG_EVENT_MAX)
    return _HIDDEN


def shown_views(events, *, state: State | None = None, matcher=None,
                can_match: frozenset[int] | None = None) -> Iterator[EventView]:
    """The views of ``events`` (RawEvents, ``None`` ticks skipped) that ``sysdig -r [FILTER]``
    prints, in order.

    Every event is applied to ``state`` (when given), but sysdig never shows internal
    events, state-only events, or the container events it reads while opening a capture
    (falcolib.decode.visibility). ``raw.num`` counts events a backend skipped by type, so a
    gap in the numbering means a non-container event went by. With ``matcher``, only the
    views it accepts are yielded; a state built with ``sysdig_filter_order`` is settled or
    discarded as sysdig does. ``can_match``: the only types ``matcher`` can accept (it is
    not asked about the others). Without a state, one view object is reused for every event.
    """
    process = state.process if state is not None else None
    order = state is not None and state.sysdig_filter_order and matcher is not None
    hidden = hidden_types()
    container = CONTAINER_TYPES
    seen = 0
    leading = True
    view = EventView(None)
    for raw in events:
        if raw is None:
            continue
        evt = Event(raw)
        if process is not None:
            view = process(evt)
        else:
            view.evt = evt
            view.cache = None
        seen += 1
        etype = raw.type
        if leading:
            if etype in container and raw.num == seen:
                continue   # consumed by sysdig while opening the capture
            leading = False
        if hidden[etype] or raw.flags & 1:   # SCAP_DF_STATE_ONLY
            continue
        if matcher is not None:
            if (can_match is not None and etype not in can_match) or not matcher(view):
                if order:
                    state.discard()
                continue
            if order:
                state.settle()
        yield view


def iter_views(backend, *, state: State | None = None, types: frozenset[int] | None = None,
               visible_only: bool = False) -> Iterator[EventView]:
    """Decode and apply every event of an entered backend; yield the views of ``types``
    (with ``visible_only``, only those ``sysdig -r`` would print: see ``shown_views``)."""
    if state is None:
        state = State(backend.snapshot())
        state.containers.describe = getattr(backend, "describe_container", None)
    if visible_only:
        views = shown_views(backend, state=state)
        if types is None:
            yield from views
        else:
            yield from (v for v in views if v.evt.type in types)
        return
    process = state.process
    for raw in backend:
        if raw is None:
            continue
        view = process(Event(raw))
        if types is None or raw.type in types:
            yield view


@attrs.define
class RunStats:
    """What one run saw: events, drops (from the backend) and alerts per rule."""

    events: int = 0
    alerts: int = 0
    per_rule: dict[str, int] = attrs.field(factory=dict)
    backend: BackendStats | None = None
    started: float = attrs.field(factory=time.monotonic)
    ended: float = 0.0

    @property
    def dropped(self) -> int:
        return self.backend.dropped if self.backend is not None else 0

    def as_dict(self) -> dict:
        d = {"events_read": self.backend.events_read if self.backend else self.events,
             "events_processed": self.events,
             "events_dropped": self.dropped,
             "alerts": self.alerts,
             "alerts_per_rule": dict(self.per_rule),
             "seconds": round((self.ended or time.monotonic()) - self.started, 3)}
        if self.backend is not None:
            d["backend"] = self.backend.as_dict()
        return d


# The fields Falco's container plugin suggests for every output (append_output's
# suggested_output, on by default in falco.yaml): ``name_with_underscores=%name``.
SUGGESTED_OUTPUT = "container_id=%container.id container_name=%container.name"


class Engine:
    """Evaluate a Ruleset over a backend's events.

    ``rule_matching`` is Falco's: ``first`` raises at most one alert per
    event (the first matching rule in load order), ``all`` one per match.
    """

    def __init__(self, ruleset, *, rule_matching: str = "first", hostname: str | None = None,
                 source: str = "syscall", append_output=()):
        if rule_matching not in ("first", "all"):
            from falcolib.errors import ConfigError
            raise ConfigError(f"rule_matching must be 'first' or 'all' (got {rule_matching!r})")
        self.ruleset = ruleset
        self.first = rule_matching == "first"
        from falcolib.outputs.alert import default_hostname
        self.hostname = hostname or default_hostname()
        self.source = source
        self.stats = RunStats()
        self._stop = False
        self.on_drops: Callable[[BackendStats, int], None] | None = None
        # falco.yaml's append_output (falcolib.config.AppendOutput entries)
        self.append_output = tuple(append_output)
        self._outputs: dict[str, tuple] = {}

    def wanted_types(self, enterless: bool = False, lean: bool = False,
                     high_volume: bool = True) -> frozenset[int] | None:
        """Event types the loaded rules and the state engine need (for the backend);
        ``enterless`` for a backend with ``exits_carry_params`` (see ``wanted_types``).

        ``lean``: the state gets only the parsers the active rules' conditions and outputs
        (append_output included) read (``falcolib.state.groups``). For a whole run with
        these rules: a reload bringing rules that read more (fd.* after proc.* only)
        would find tables that missed the events before it.

        ``high_volume=False`` (a live run without ``-A``, as Falco's default): the I/O
        syscalls of ``high_volume_types()`` are left off unless a rule names them; the
        state then does without what they tell (a socket first seen connected by a
        plain read or write)."""
        rules = self.ruleset.evttypes()
        types = wanted_types(rules, enterless=enterless,
                             fields=self.used_fields() if lean else None)
        if high_volume or types is None or rules is None:
            return types
        return types - (high_volume_types() - rules - pair_halves(rules))

    def used_fields(self) -> frozenset[str] | None:
        """The field names the active rules read: conditions (exceptions included) and
        outputs as alerts render them; None when one cannot be told."""
        from falcolib.errors import FalcolibError
        out: set[str] = set()
        try:
            for rule in self.ruleset.active:
                fields = getattr(rule.matcher, "fields", None)
                if fields is None:
                    return None
                out |= fields
                fmt, extra = self._output(rule)
                out |= fmt.field_names
                for _key, f in extra:
                    out |= f.field_names
        except FalcolibError:
            return None
        return frozenset(out)

    def stop(self) -> None:
        self._stop = True

    def swap(self, ruleset, rule_matching: str | None = None, append_output=None) -> None:
        """Run ``ruleset`` from the next event on (a reload); counters carry over."""
        self.ruleset = ruleset
        if rule_matching is not None:
            self.first = rule_matching == "first"
        if append_output is not None:
            self.append_output = tuple(append_output)
        self._outputs = {}

    def _output(self, rule) -> tuple:
        """(formatter, extra field formatters) of a rule with append_output applied, as
        Falco's rule compiler does: each matching entry's text is appended after a space."""
        r = rule.rule
        hit = self._outputs.get(r.name)
        if hit is not None:
            return hit
        if not self.append_output:
            hit = (rule.output, ())
        else:
            from falcolib.outputs.format import Formatter
            from falcolib.rules.compiler import output_format
            text = output_format(r.output)
            extra_fields = []
            for entry in self.append_output:
                if not entry.matches(r.name, self.source, r.tags):
                    continue
                if entry.extra_output:
                    text += " " + entry.extra_output
                if entry.suggested_output:
                    text += " " + SUGGESTED_OUTPUT
                extra_fields += [(k, Formatter(v)) for k, v in entry.extra_fields]
            hit = (Formatter(text), tuple(extra_fields))
        self._outputs[r.name] = hit
        return hit

    def alert_for(self, rule, view: EventView) -> Alert:
        from falcolib.outputs.alert import Alert
        fmt, extra = self._output(rule)
        r = rule.rule
        fields = fmt.values(view)
        for key, f in extra:
            fields[key] = f.render(view, always=True)
        return Alert(time=view.evt.ts, rule=r.name, priority=r.priority.value
                     if hasattr(r.priority, "value") else r.priority,
                     output=fmt.render(view, always=True) or "",
                     output_fields=fields, tags=tuple(r.tags),
                     source=self.source, hostname=self.hostname)

    def _raise(self, rule, view: EventView, emit) -> None:
        """The rule's alert for this event to ``emit``, counted in the stats."""
        emit(self.alert_for(rule, view))
        stats = self.stats
        stats.alerts += 1
        name = rule.rule.name
        stats.per_rule[name] = stats.per_rule.get(name, 0) + 1

    def process(self, view: EventView) -> list[Alert]:
        """Alerts for one event (already applied to the state)."""
        out: list[Alert] = []
        for rule in self.ruleset.match(view, first=self.first):
            self._raise(rule, view, out.append)
        return out

    def run(self, backend, emit: Callable[[Alert], None], *, state: State | None = None,
            poll: Callable[[int], bool] | None = None, poll_every: int = 4096) -> RunStats:
        """Run over an entered backend until it ends or ``stop()``; alerts go to ``emit``.

        ``poll(last_ts)`` (if given) is called every ``poll_every`` events and on
        a live backend's idle ticks: reload checks, drop policy, live stats. It
        returns True when it swapped the ruleset, which takes effect at once.
        """
        if state is None:
            state = State(backend.snapshot(),
                          enterless=getattr(backend, "exits_carry_params", False),
                          live=getattr(backend, "live", False))
            state.containers.describe = getattr(backend, "describe_container", None)
        process = state.process
        index = self.ruleset.runner
        by_type: list = [None] * 65536   # evt type -> its runner: [sequence, rules, countdown]
        first = self.first
        stats = self.stats
        n = 0
        last_ts = 0
        for raw in backend:
            if raw is None:  # a live backend's idle tick
                if poll is not None:
                    stats.events = n
                    if poll(last_ts):
                        index, first = self.ruleset.runner, self.first
                        by_type = [None] * 65536
                if self._stop:
                    break
                continue
            n += 1
            last_ts = raw.ts
            view = process(Event(raw))
            hit = by_type[raw.type]
            if hit is None:
                hit = by_type[raw.type] = index(raw.type, first)
            sequence = hit[0]
            if sequence is not None:
                if first:
                    k = sequence(view)
                    if k >= 0:
                        self._raise(hit[1][k], view, emit)
                else:
                    for k in sequence(view):
                        self._raise(hit[1][k], view, emit)
            elif hit[1]:
                for rule in hit[1]:
                    if rule.matcher(view):
                        self._raise(rule, view, emit)
                        if first:
                            break
                self.ruleset.ran_one_by_one(hit, raw.type, first)
            if poll is not None and not n % poll_every:
                stats.events = n
                if poll(last_ts):
                    index, first = self.ruleset.runner, self.first
                    by_type = [None] * 65536
            if self._stop:
                break
        stats.events = n
        stats.backend = backend.stats()
        stats.ended = time.monotonic()
        return stats
