"""Applies declarations in load order: define, append, override, enable (Falco's collector).

Every item gets an ``index`` (its place in load order, kept when the item is
redefined) and a ``visibility`` (the order number of its last change): a
list or macro sees only lists/macros whose index is lower than its own
visibility, as in Falco.
"""
from __future__ import annotations

import re
from typing import Iterable

import attrs

from falcolib.errors import Position
from falcolib.rules.model import DEFAULT_SOURCE, List, Macro, Rule, RuleException
from falcolib.rules.reader import (
    Append, Declaration, Define, Enable, EngineVersion, PluginVersions, Replace,
)
from falcolib.rules.result import Code, LoadResult

ENGINE_VERSION = (0, 63, 0)   # the Falco rules engine version whose semantics we follow
SOURCES = frozenset({DEFAULT_SOURCE})

ERROR_NO_PREVIOUS_MACRO = ("Macro uses 'append' or 'override.condition: append' but no macro "
                           "by that name already exists")
ERROR_NO_PREVIOUS_LIST = ("List uses 'append' or 'override.items: append' but no list by that "
                          "name already exists")
ERROR_NO_PREVIOUS_RULE_APPEND = ("Rule uses 'append' or 'override.<key>: append' but no rule by "
                                 "that name already exists")
ERROR_NO_PREVIOUS_RULE_REPLACE = ("An 'override.<key>: replace' to a rule was requested but no "
                                  "rule by that name already exists")

_FALCO_OPERATORS = frozenset({
    "=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith",
    "bstartswith", "endswith", "glob", "iglob", "in", "intersects", "pmatch", "exists", "regex",
})
_SINGLE_FIELD_COMPS = frozenset({"in", "pmatch", "intersects"})
_FIELD_WITH_ARG = re.compile(r"([^\[\]]+)(?:\[(.*)\])?$")


@attrs.define
class Entry:
    item: List | Macro | Rule
    index: int
    visibility: int
    unknown_source: bool = False


class _Invalid(Exception):
    def __init__(self, message: str, position: Position | None, item_type: str = "",
                 name: str = ""):
        super().__init__(message)
        self.message, self.position, self.item_type, self.name = message, position, item_type, name


def supported_operators() -> frozenset[str]:
    try:
        from falcolib.filter.operators import Operator
    except ImportError:
        return _FALCO_OPERATORS
    return frozenset(op.value for op in Operator) | {"=="}


def is_valid_field(spec: str) -> bool:
    """A field name usable on the left of a comparison (``proc.aname[2]`` included)."""
    from falcolib.fields import lookup
    from falcolib.errors import FilterCompileError
    m = _FIELD_WITH_ARG.match(spec.strip())
    if not m:
        return False
    try:
        lookup(m.group(1))
    except FilterCompileError:
        return False
    return True


def validate_exception(ex: RuleException, source_known: bool) -> RuleException:
    """Falco's checks on an exception's fields/comps; returns it with default comps filled."""
    ops = supported_operators()
    pos = ex.position
    if isinstance(ex.fields, tuple):
        comps = ex.comps if ex.comps is not None else tuple("=" for _ in ex.fields)
        if isinstance(comps, str) or len(comps) != len(ex.fields):
            raise _Invalid("Fields and comps lists must have equal length", pos)
        comps = tuple(c.strip() for c in comps)
        for c in comps:
            if c not in ops:
                raise _Invalid(f"'{c}' is not a supported comparison operator", pos)
        if source_known:
            for f in ex.fields:
                if not is_valid_field(f):
                    raise _Invalid(f"'{f}' is not a supported filter field", pos)
    else:
        comps = ex.comps if ex.comps is not None else "in"
        if isinstance(comps, tuple):
            raise _Invalid("Fields and comps must both be strings", pos)
        comps = comps.strip()
        if comps not in _SINGLE_FIELD_COMPS:
            raise _Invalid("When fields is a single value, comps must be one of "
                           "(in, pmatch, intersects)", pos)
        if source_known and not is_valid_field(ex.fields):
            raise _Invalid(f"'{ex.fields}' is not a supported filter field", pos)
    return attrs.evolve(ex, comps=comps)


def _version(text: str) -> tuple[int, int, int]:
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (0, 0, 0)


class Collector:
    """The state of loading: lists, macros and rules by name, in load order."""

    def __init__(self) -> None:
        self.lists: dict[str, Entry] = {}
        self.macros: dict[str, Entry] = {}
        self.rules: dict[str, Entry] = {}
        self.required_engine_version: str | None = None
        self.required_plugin_versions: list[tuple[tuple[str, str], ...]] = []
        self._next = 0

    def _id(self) -> int:
        self._next += 1
        return self._next - 1

    def apply_all(self, decls: Iterable[Declaration], result: LoadResult) -> None:
        for decl in decls:
            self.apply(decl, result)

    def apply(self, decl: Declaration, result: LoadResult) -> None:
        try:
            self._apply(decl, result)
        except _Invalid as exc:
            item_type, name = exc.item_type, exc.name
            if not item_type:
                item_type, name = _describe(decl)
            result.add(Code.LOAD_ERR_VALIDATE, item_type, name, exc.message, exc.position)

    def _apply(self, decl: Declaration, result: LoadResult) -> None:
        match decl:
            case Define(item=List() as item):
                self._define(self.lists, item)
            case Define(item=Macro() as item):
                self._define(self.macros, item)
            case Define(item=Rule() as item):
                self._define_rule(item, result)
            case Append(item_type="list"):
                prev = self.lists.get(decl.name)
                if prev is None:
                    raise _Invalid(ERROR_NO_PREVIOUS_LIST, decl.position)
                prev.item = attrs.evolve(prev.item, items=prev.item.items + decl.values["items"])
                prev.visibility = self._id()
            case Append(item_type="macro"):
                prev = self.macros.get(decl.name)
                if prev is None:
                    raise _Invalid(ERROR_NO_PREVIOUS_MACRO, decl.position)
                cond = prev.item.condition + " " + decl.values["condition"]
                prev.item = attrs.evolve(prev.item, condition=cond)
                prev.visibility = self._id()
            case Append(item_type="rule"):
                self._append_rule(decl)
            case Replace():
                self._replace_rule(decl)
            case Enable():
                prev = self.rules.get(decl.name)
                if prev is None:
                    raise _Invalid("Rule has 'enabled' key but no rule by that name already "
                                   "exists", decl.position)
                prev.item = attrs.evolve(prev.item, enabled=decl.enabled)
            case EngineVersion():
                wanted = _version(decl.version)
                if wanted[0] != ENGINE_VERSION[0] or wanted[1:] > ENGINE_VERSION[1:]:
                    have = ".".join(map(str, ENGINE_VERSION))
                    raise _Invalid(f"Rules require engine version {decl.version}, but engine "
                                   f"version is {have}", decl.position)
                if (self.required_engine_version is None
                        or _version(self.required_engine_version) < wanted):
                    self.required_engine_version = decl.version
            case PluginVersions():
                names = [n for n, _ in decl.alternatives]
                if len(set(names)) != len(names):
                    raise _Invalid("Defined multiple alternative version requirements for "
                                   f"plugin '{names[0]}'", decl.position)
                self.required_plugin_versions.append(decl.alternatives)

    def _define(self, table: dict[str, Entry], item) -> Entry:
        vid = self._id()
        prev = table.get(item.name)
        if prev is not None:
            prev.item, prev.visibility = item, vid
            return prev
        table[item.name] = entry = Entry(item, vid, vid)
        return entry

    def _prev_rule(self, name: str, source: str | None, position) -> Entry | None:
        prev = self.rules.get(name)
        if prev is not None and source and prev.item.source and source != prev.item.source:
            raise _Invalid("Rule has been re-defined with a different source", position)
        return prev

    def _define_rule(self, rule: Rule, result: LoadResult) -> None:
        self._prev_rule(rule.name, rule.source, rule.position)
        known = rule.source in SOURCES
        if not known:
            result.add(Code.LOAD_UNKNOWN_SOURCE, "rule", rule.name,
                       f"Unknown source {rule.source}, skipping", rule.position)
        exceptions = []
        for ex in rule.exceptions:
            if ex.fields is None:
                raise _Invalid("Rule exception item must have fields property with a list of "
                               "fields", ex.position, "rule", rule.name)
            exceptions.append(self._validate_ex(ex, known, rule.name))
        entry = self._define(self.rules, attrs.evolve(rule, exceptions=tuple(exceptions)))
        entry.unknown_source = not known

    @staticmethod
    def _validate_ex(ex: RuleException, known: bool, rule_name: str) -> RuleException:
        try:
            return validate_exception(ex, known)
        except _Invalid as exc:
            exc.item_type, exc.name = "rule", rule_name
            raise

    def _append_rule(self, decl: Append) -> None:
        prev = self._prev_rule(decl.name, decl.values.get("source"), decl.position)
        if prev is None:
            raise _Invalid(ERROR_NO_PREVIOUS_RULE_APPEND, decl.position)
        v = decl.values
        if not any(k in v for k in ("condition", "output", "desc", "tags", "exceptions")):
            raise _Invalid("Appended rule must have exceptions or condition property",
                           decl.position)
        rule: Rule = prev.item
        changes: dict = {}
        for key in ("condition", "output", "desc"):
            if v.get(key):
                changes[key] = getattr(rule, key) + " " + v[key]
        if "tags" in v:
            changes["tags"] = rule.tags + tuple(v["tags"])
        if "exceptions" in v:
            merged = list(rule.exceptions)
            for ex in v["exceptions"]:
                at = next((i for i, e in enumerate(merged) if e.name == ex.name), None)
                if at is None:
                    if ex.fields is None:
                        raise _Invalid("Rule exception must have fields property with a list "
                                       "of fields", ex.position)
                    if not ex.values:
                        raise _Invalid("Rule exception must have values property with a list "
                                       "of values", ex.position)
                    merged.append(self._validate_ex(ex, not prev.unknown_source, decl.name))
                else:
                    if ex.fields is not None:
                        raise _Invalid("Can not append exception fields to existing exception, "
                                       "only values", ex.position)
                    if ex.comps is not None:
                        raise _Invalid("Can not append exception comps to existing exception, "
                                       "only values", ex.position)
                    merged[at] = attrs.evolve(merged[at], values=merged[at].values + ex.values)
            changes["exceptions"] = tuple(merged)
        prev.item = attrs.evolve(rule, **changes)
        prev.visibility = self._id()

    def _replace_rule(self, decl: Replace) -> None:
        prev = self._prev_rule(decl.name, decl.values.get("source"), decl.position)
        if prev is None:
            raise _Invalid(ERROR_NO_PREVIOUS_RULE_REPLACE, decl.position)
        changes = {}
        for key, value in decl.values.items():
            if key == "source":
                continue
            if key == "exceptions":
                value = tuple(self._validate_ex(ex, not prev.unknown_source, decl.name)
                              for ex in value)
            changes[key.replace("-", "_")] = value
        if not changes:
            raise _Invalid("The rule must have at least one field that can be replaced",
                           decl.position)
        prev.item = attrs.evolve(prev.item, **changes)
        prev.visibility = self._id()


def _describe(decl: Declaration) -> tuple[str, str]:
    match decl:
        case Define(item=item):
            return type(item).__name__.lower(), item.name
        case Append():
            return decl.item_type, decl.name
        case Replace() | Enable():
            return "rule", decl.name
        case EngineVersion():
            return "required_engine_version", ""
        case PluginVersions():
            return "required_plugin_versions", decl.alternatives[0][0]
    return "rules content item", ""
