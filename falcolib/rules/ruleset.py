"""Ruleset: compiled rules in load order, indexed by event type, with selection.

``match(view)`` looks only at the rules whose conditions can match the
event's type (rules that cannot be narrowed are checked for every event).
With ``first=True`` (Falco's default ``rule_matching: first``) it stops at
the first matching rule in load order.

Like Falco (whose drivers no longer send the enter half of a system call,
and whose libsinsp filters out the enter events it still reads), rules see
only exit events and events that have no exit half (container, procexit,
...): ``enter_events=True`` lets rules see enter events too, as sysdig-era
Falco did.
"""
from __future__ import annotations

import fnmatch
import functools
from typing import Iterable

import attrs

from falcolib.rules.compiler import CompiledRule
from falcolib.rules.model import List, Macro, Priority, Rule
from falcolib.rules.result import LoadResult


@attrs.frozen
class Selection:
    """Which loaded rules run (Falco's -p/-D/-T/-t and rules enable/disable)."""

    min_priority: Priority = attrs.field(default=Priority.DEBUG, converter=Priority.parse)
    disable_rules: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    disable_tags: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    only_tags: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    enable_rules: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def selects(self, rule: Rule) -> bool:
        if rule.priority > self.min_priority:
            return False
        name = rule.name
        if any(fnmatch.fnmatchcase(name, pat) for pat in self.enable_rules):
            return True
        if not rule.enabled:
            return False
        if any(fnmatch.fnmatchcase(name, pat) for pat in self.disable_rules):
            return False
        tags = set(rule.tags)
        if self.disable_tags and tags & self.disable_tags:
            return False
        if self.only_tags and not tags & self.only_tags:
            return False
        return True


@functools.lru_cache(maxsize=1)
def enter_halves() -> frozenset[int]:
    """Event types that are the enter half of an enter/exit pair."""
    from falcolib.decode.table import EVENTS
    out = set()
    for t, info in enumerate(EVENTS[:-1]):
        nxt = EVENTS[t + 1]
        if info.dir == ">" and nxt.dir == "<" and nxt.name == info.name:
            out.add(t)
    return frozenset(out)


class Ruleset:
    """Every loaded rule (``rules``), the ones that run (``active``) and the evt.type index."""

    __slots__ = ("compiled", "lists", "macros", "items", "result", "selection", "active",
                 "required_engine_version", "required_plugin_versions", "enter_events",
                 "_by_type", "_any", "_skip", "_sequences", "_matching")

    def __init__(self, compiled: Iterable[CompiledRule], *, items: Iterable = (),
                 lists: Iterable[List] = (), macros: Iterable[Macro] = (),
                 result: LoadResult | None = None, selection: Selection | None = None,
                 required_engine_version: str | None = None,
                 required_plugin_versions: tuple = (), enter_events: bool = False):
        self.compiled: tuple[CompiledRule, ...] = tuple(compiled)
        self.items = tuple(items)          # lists, macros and rules in definition order
        self.lists = tuple(lists)
        self.macros = tuple(macros)
        self.result = result or LoadResult()
        self.selection = selection or Selection()
        self.required_engine_version = required_engine_version
        self.required_plugin_versions = tuple(required_plugin_versions)
        self.active: tuple[CompiledRule, ...] = tuple(
            c for c in self.compiled if self.selection.selects(c.rule))
        self._any = tuple(c for c in self.active if c.evttypes is None)
        self._by_type: dict[int, tuple[CompiledRule, ...]] = {}
        self._sequences: dict[tuple[int, bool], tuple] = {}
        self._matching: dict[tuple[int, bool], list] = {}   # runner(): [sequence, rules, countdown]
        self.enter_events = enter_events
        self._skip = frozenset() if enter_events else enter_halves()

    def __repr__(self) -> str:
        return (f"<Ruleset {len(self.compiled)} rules ({len(self.active)} active), "
                f"{len(self.macros)} macros, {len(self.lists)} lists>")

    def __len__(self) -> int:
        return len(self.compiled)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every loaded rule (enabled or not), in load order."""
        return tuple(c.rule for c in self.compiled)

    def rule(self, name: str) -> CompiledRule:
        for c in self.compiled:
            if c.rule.name == name:
                return c
        raise KeyError(name)

    def select(self, min_priority: Priority | str | None = None,
               disable_rules: Iterable[str] = (), disable_tags: Iterable[str] = (),
               only_tags: Iterable[str] = (), enable_rules: Iterable[str] = (),
               enter_events: bool | None = None) -> "Ruleset":
        """A Ruleset running only the selected rules (the loaded rules are shared)."""
        sel = Selection(min_priority if min_priority is not None else Priority.DEBUG,
                        tuple(disable_rules), frozenset(disable_tags), frozenset(only_tags),
                        tuple(enable_rules))
        return Ruleset(self.compiled, items=self.items, lists=self.lists, macros=self.macros,
                       result=self.result, selection=sel,
                       required_engine_version=self.required_engine_version,
                       required_plugin_versions=self.required_plugin_versions,
                       enter_events=self.enter_events if enter_events is None else enter_events)

    def evttypes(self) -> frozenset[int] | None:
        """Event types any active rule can match; None when some rule needs every event."""
        if self._any:
            return None
        out: set[int] = set()
        for c in self.active:
            out |= c.evttypes
        return frozenset(out - self._skip)

    def matcher_for(self, evt_type: int) -> tuple[CompiledRule, ...]:
        """The active rules that can match an event of this type, in load order."""
        hit = self._by_type.get(evt_type)
        if hit is None:
            hit = () if evt_type in self._skip else tuple(
                c for c in self.active if c.evttypes is None or evt_type in c.evttypes)
            self._by_type[evt_type] = hit
        return hit

    def sequence_for(self, evt_type: int, first: bool = True) -> tuple:
        """``(sequence, rules)`` for events of this type: ``rules`` as ``matcher_for``
        gives them and ``sequence(view)``, all their conditions in one generated function
        (``filter.sequence.compile_sequence``): the index of the first matching rule
        (-1: none) when ``first``, else the list of the matching ones' indexes. Made when
        first asked for (one per type and mode; ``match`` and ``Engine.run`` ask after a
        type's first ``engine.SEQUENCE_AFTER`` events).
        ``sequence`` is None when some rule's matcher is not a plain compiled condition:
        call each rule's matcher then."""
        key = (evt_type, first)
        hit = self._sequences.get(key)
        if hit is None:
            rules = self.matcher_for(evt_type)
            hit = self._sequences[key] = (_sequence(rules, first, evt_type), rules)
        return hit

    def runner(self, evt_type: int, first: bool = True) -> list:
        """``[sequence, rules, countdown]`` for events of this type (``match`` and
        ``Engine.run`` share it): the rules run one by one (``sequence`` None) until
        ``countdown`` events of the type have passed (``ran_one_by_one``), then as one
        function (``sequence_for``)."""
        key = (evt_type, first)
        hit = self._matching.get(key)
        if hit is None:
            from falcolib.engine import SEQUENCE_AFTER
            hit = self._matching[key] = [None, self.matcher_for(evt_type), SEQUENCE_AFTER]
        return hit

    def ran_one_by_one(self, runner: list, evt_type: int, first: bool) -> None:
        """Count an event whose rules ran one by one; the last one of the countdown
        makes them one function."""
        runner[2] -= 1
        if not runner[2]:
            runner[0] = self.sequence_for(evt_type, first)[0]

    def match(self, view, first: bool = True) -> list[CompiledRule]:
        """The rules matching this event: the first one only, or all with ``first=False``
        (one by one, then as one function: ``runner``)."""
        hit = self.runner(view.evt.type, first)
        sequence, rules = hit[0], hit[1]
        if sequence is not None:
            if first:
                k = sequence(view)
                return [rules[k]] if k >= 0 else []
            return [rules[k] for k in sequence(view)]
        out = _each(rules, view, first)
        if rules:
            self.ran_one_by_one(hit, view.evt.type, first)
        return out

    def match_each(self, view, first: bool = True) -> list[CompiledRule]:
        """``match`` by each rule's own matcher, one after the other (the reference the
        one-function form is tested against)."""
        return _each(self.matcher_for(view.evt.type), view, first)


def _each(rules, view, first: bool) -> list[CompiledRule]:
    out = []
    for c in rules:
        if c.matcher(view):
            out.append(c)
            if first:
                break
    return out


def _sequence(rules: tuple[CompiledRule, ...], first: bool, evt_type: int):
    """The rules' conditions as one function, or None (no rule, or a matcher that is
    not ``filter.compile``'s with the default field lookup)."""
    if not rules:
        return None
    nodes, counters = [], []
    for c in rules:
        m = c.matcher
        node = getattr(m, "condition", None)
        if node is None or getattr(m, "lookup", True) is not None \
                or not hasattr(m, "type_errors"):
            return None
        nodes.append(node)
        counters.append(m.type_errors)
    from falcolib.errors import FalcolibError
    from falcolib.filter.sequence import compile_sequence
    try:
        return compile_sequence(nodes, counters, first=first, evt_type=evt_type)
    except (FalcolibError, SyntaxError, RecursionError):
        return None   # each matcher compiled alone: they still run one by one
