"""Collected items -> compiled rules: lists and macros expanded, exceptions applied.

Falco's construction, step by step (rule_loader_compiler.cpp):

- a list's items that name an earlier list (index below the list's
  visibility) are replaced by that list's items;
- every condition is parsed once (``parse_cached``); a bare word inside
  ``(...)`` that names a list becomes that list's items (Falco does this
  textually and without visibility; a word naming no list stays a string);
- a macro sees the macros whose index is below its visibility, a rule sees
  all; a macro reached again on its own expansion path is a loop;
- exceptions become ``and not (...)`` text appended to ``(condition)``
  before parsing, quoted as Falco quotes them;
- the rule's condition is compiled (unknown fields are an error, or a
  LOAD_UNKNOWN_FILTER warning with ``skip-if-unknown-filter``), its output
  format is checked, and a rule that matches more than 100 event types
  (or cannot be narrowed) gets LOAD_NO_EVTTYPE.

Where Falco stops at the first error, this goes on and reports them all.
"""
from __future__ import annotations

import re
from typing import Callable

import attrs
from cachetools import LRUCache

from falcolib.errors import FilterCompileError, FilterSyntaxError, FormatError
from falcolib.filter import ast
from falcolib.filter.quoting import EscapeError, unescape
from falcolib.rules.collector import Collector, Entry
from falcolib.rules.condition_warnings import Findings, analyze
from falcolib.rules.model import Rule, RuleException
from falcolib.rules.result import Code, LoadResult

MAX_EVTTYPES = 100
_LIST_OPS = frozenset({"in", "intersects", "pmatch"})
_CONTAINER_INFO = "%container.info"
DEPRECATED_FIELDS = ("evt.dir", "evt.latency", "evt.latency.s", "evt.latency.ns",
                     "evt.latency.human", "evt.wait_latency")
_UNKNOWN_FIELD = re.compile(r"unknown field|nonexistent field|unknown event type", re.I)

# condition text -> parsed AST (or the FilterSyntaxError it raised); shared by every load
_PARSED: LRUCache = LRUCache(maxsize=8192)


class _Problem(Exception):
    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def parse_cached(text: str):
    """``filter.parse(text)``, memoized (parsing is the slow part of loading)."""
    hit = _PARSED.get(text)
    if hit is None:
        from falcolib.filter import parse
        try:
            hit = parse(text)
        except FilterSyntaxError as exc:
            hit = exc
        _PARSED[text] = hit
    if isinstance(hit, FilterSyntaxError):
        pos = hit.position
        where = f" (condition line {pos.line}, column {pos.column})" if pos and pos.line else ""
        raise _Problem(Code.LOAD_ERR_COMPILE_CONDITION, hit.message + where)
    return hit


# -- exceptions -> condition text ------------------------------------------------------------
def _quote_item(text: str) -> str:
    if " " in text and not text.startswith(('"', "'")):
        return '"' + text + '"'
    return text


def exception_clause(ex: RuleException) -> str:
    """The ``(...)`` clause Falco builds for one exception ("" when it has no values)."""
    comps = ex.effective_comps
    if not isinstance(ex.fields, tuple):
        parts = []
        for val in ex.values:
            if isinstance(val, tuple):
                raise _Problem(Code.LOAD_ERR_VALIDATE,
                               "Expected values array to contain a list of strings")
            parts.append(_quote_item(val))
        return f"({ex.fields} {comps} ({', '.join(parts)}))" if parts else ""
    alts = []
    for values in ex.values:
        if not isinstance(values, tuple) or len(values) != len(ex.fields):
            raise _Problem(Code.LOAD_ERR_VALIDATE, "Fields and values lists must have equal "
                                                   "length")
        terms = []
        for field, comp, value in zip(ex.fields, comps, values):
            if isinstance(value, tuple):
                rhs = "(" + ", ".join(_quote_item(v) for v in value) + ")"
            elif comp in _LIST_OPS:
                rhs = value if value.startswith("(") else f"({value})"
            else:
                rhs = _quote_item(value)
            terms.append(f" {field} {comp} {rhs}")
        alts.append("(" + " and ".join(terms) + ")")
    return "(" + " or ".join(alts) + ")" if alts else ""


def rule_condition_text(rule: Rule) -> str:
    """The rule's condition with its exceptions applied, as Falco writes it."""
    if not rule.exceptions:
        return rule.condition
    text = f"({rule.condition})"
    for ex in rule.exceptions:
        clause = exception_clause(ex)
        if clause:
            text += " and not " + clause
    return text


# -- lists --------------------------------------------------------------------------------------
def list_item_literal(item: str) -> ast.Literal:
    """A list item as the value the filter parser reads from it."""
    if len(item) >= 2 and item[0] in "\"'" and item[-1] == item[0]:
        try:
            return ast.Literal(unescape(item[1:-1], item[0]), quoted=True)
        except EscapeError:
            pass
    return ast.Literal(item)


@attrs.frozen
class CompiledRule:
    """A rule ready to run: ``matches(view)``, ``evttypes``, ``output`` formatter."""

    rule: Rule
    condition: object = attrs.field(eq=False, repr=False)     # the expanded AST
    matcher: Callable = attrs.field(eq=False, repr=False)
    evttypes: frozenset[int] | None = attrs.field(eq=False)
    index: int = attrs.field(default=0, eq=False)

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def priority(self):
        return self.rule.priority

    def matches(self, view) -> bool:
        return self.matcher(view)

    @property
    def output(self):
        text = output_format(self.rule.output)
        fmt = _FORMATTERS.get(text)
        if fmt is None:
            from falcolib.outputs.format import Formatter
            fmt = _FORMATTERS[text] = Formatter(text)
        return fmt


_FORMATTERS: LRUCache = LRUCache(maxsize=4096)


def output_format(output: str) -> str:
    """The output as Falco runs it (``%container.info`` dropped, as the container plugin
    adds container fields itself)."""
    return output.replace(_CONTAINER_INFO, "").strip() if _CONTAINER_INFO in output else output


def _ALL(entry) -> bool:  # noqa: N802 - a constant predicate: a rule sees every macro
    return True


class Compiler:
    """Compiles a Collector's final state; issues go to ``result``."""

    def __init__(self, col: Collector, result: LoadResult, cache: dict | None = None):
        self.col = col
        self.result = result
        # expanded condition -> matcher (or the FilterCompileError), shared by the
        # compiles of one load: Falco recompiles everything after each file
        cache = cache if cache is not None else {}
        self.matchers: dict = cache.setdefault("matchers", {})
        # subtree (by identity, kept alive) -> its Findings, shared by the compiles of one load
        self.analyzed: dict = cache.setdefault("analyzed", {})
        # field use -> its once-per-event extractor, shared by every rule of the load
        self.shared_fields: dict = cache.setdefault("fields", {})
        self.lists: dict[str, tuple[ast.Literal, ...]] = {}
        self.used_lists: set[str] = set()
        self.used_macros: set[str] = set()
        self.macro_ast: dict[str, object] = {}      # macro name -> resolved AST

    # lists
    def compile_lists(self) -> None:
        for name, entry in self.col.lists.items():
            items: list[ast.Literal] = []
            for item in entry.item.items:
                ref = self.col.lists.get(item)
                if ref is not None and ref.index < entry.visibility:
                    self.used_lists.add(item)
                    items.extend(self.lists.get(item, ()))
                else:
                    items.append(list_item_literal(item))
            self.lists[name] = tuple(items)

    def _list_items(self, name: str) -> tuple:
        items = self.lists.get(name)
        if items is None:
            return (ast.Literal(name),)      # no such list: the word is a plain string
        self.used_lists.add(name)
        return items

    def expand(self, node, visible: Callable[[Entry], bool], path: tuple[str, ...]):
        """One bottom-up pass: list names -> their items, macro names -> their bodies."""
        problems: list[str] = []

        def fn(n):
            if isinstance(n, ast.Identifier):
                return self._macro_body(n.name, visible, path, problems) or n
            if isinstance(n, ast.ListValue):
                if not any(isinstance(i, ast.ListRef) for i in n.items):
                    return n
                out: list = []
                for i in n.items:
                    if isinstance(i, ast.ListRef):
                        out.extend(self._list_items(i.name))
                    else:
                        out.append(i)
                return ast.ListValue(tuple(out))
            if isinstance(n, ast.Compare) and isinstance(n.value, ast.ListRef):
                return ast.Compare(n.field, n.op, ast.ListValue(self._list_items(n.value.name)))
            return n

        out = ast.transform(node, fn)
        if problems:
            raise _Problem(Code.LOAD_ERR_VALIDATE, problems[0])
        return out

    def _macro_body(self, name: str, visible, path, problems: list[str]):
        entry = self.col.macros.get(name)
        if entry is None or not visible(entry):
            problems.append(f"Undefined macro '{name}' used in filter.")
            return None
        if name in path:
            problems.append(f"reference loop in macro '{name}'")
            return None
        self.used_macros.add(name)
        body = self.macro_ast.get(name)
        if body is None:
            # not expanded yet (a later macro reached through a redefinition): do it here
            vis = entry.visibility
            body = self.expand(parse_cached(entry.item.condition),
                               lambda e: e.index < vis, path + (name,))
        return body

    def compile_macros(self) -> None:
        for name, entry in self.col.macros.items():
            try:
                vis = entry.visibility
                self.macro_ast[name] = self.expand(parse_cached(entry.item.condition),
                                                   lambda e, v=vis: e.index < v, (name,))
            except _Problem as exc:
                self.result.add(exc.code, "macro", name, exc.message, entry.item.position)

    # rules
    def compile_rule(self, entry: Entry) -> CompiledRule | None:
        rule: Rule = entry.item
        try:
            text = rule_condition_text(rule)
            node = self.expand(parse_cached(text), _ALL, ())
        except _Problem as exc:
            self.result.add(exc.code, "rule", rule.name, exc.message, rule.position)
            return None
        if not self.check_output(rule):
            return None
        found: Findings = analyze(node, self.analyzed)
        if found.unsafe_na:
            self.result.add(Code.LOAD_UNSAFE_NA_CHECK, "rule", rule.name, "", rule.position)
        self.check_deprecated(rule, found.fields)
        try:
            matcher = self.compile_condition(node)
        except FilterCompileError as exc:
            if rule.skip_if_unknown_filter and _UNKNOWN_FIELD.search(exc.message):
                self.result.add(Code.LOAD_UNKNOWN_FILTER, "rule", rule.name, exc.message,
                                rule.position)
            else:
                self.result.add(Code.LOAD_ERR_COMPILE_CONDITION, "rule", rule.name,
                                exc.message, rule.position)
            return None
        for message in found.messages:
            self.result.add(Code.LOAD_COMPILE_CONDITION, "rule", rule.name, message,
                            rule.position)
        evttypes = matcher.evttypes
        if rule.warn_evttypes and (evttypes is None or len(evttypes) > MAX_EVTTYPES):
            self.result.add(Code.LOAD_NO_EVTTYPE, "rule", rule.name,
                            "Rule matches too many evt.type values. This has a significant "
                            "performance penalty.", rule.position)
        return CompiledRule(rule, node, matcher, evttypes, entry.index)

    def compile_condition(self, node):
        hit = self.matchers.get(node)
        if hit is None:
            from falcolib.filter import compile as compile_filter
            try:
                # the rules run one after the other on each event: a field is
                # extracted once per event for all of them
                hit = compile_filter(node, shared=self.shared_fields)
            except FilterCompileError as exc:
                hit = exc
            self.matchers[node] = hit
        if isinstance(hit, FilterCompileError):
            raise hit
        return hit

    def check_output(self, rule: Rule) -> bool:
        pos = rule.output_position or rule.position
        if _CONTAINER_INFO in rule.output:
            self.result.add(Code.LOAD_DEPRECATED_ITEM, "rule", rule.name,
                            "%container.info is deprecated and no more useful, and will be "
                            "dropped by Falco 1.0.0. The container plugin will automatically "
                            "add required fields to the output message.", rule.position)
        try:
            check_output_format(output_format(rule.output))
        except (FormatError, FilterCompileError) as exc:
            if rule.skip_if_unknown_filter and _UNKNOWN_FIELD.search(exc.message):
                self.result.add(Code.LOAD_UNKNOWN_FILTER, "rule", rule.name, exc.message, pos)
            else:
                self.result.add(Code.LOAD_ERR_COMPILE_OUTPUT, "rule", rule.name, exc.message,
                                pos)
            return False
        for name in DEPRECATED_FIELDS:
            if "%" + name in rule.output or "%(" + name in rule.output:
                self.result.add(Code.LOAD_DEPRECATED_ITEM, "rule", rule.name,
                                f"usage of deprecated field '{name}' has been detected in the "
                                "rule output", pos)
        return True

    def check_deprecated(self, rule: Rule, seen: frozenset[str]) -> None:
        for name in DEPRECATED_FIELDS:
            if name in seen:
                self.result.add(Code.LOAD_DEPRECATED_ITEM, "rule", rule.name,
                                f"usage of deprecated field '{name}'", rule.position)

    def compile(self) -> list[CompiledRule]:
        errors_before = len(self.result.errors)
        self.compile_lists()
        self.compile_macros()
        compiled = []
        for entry in sorted(self.col.rules.values(), key=lambda e: e.index):
            if entry.unknown_source:
                continue
            cr = self.compile_rule(entry)
            if cr is not None:
                compiled.append(cr)
        if len(self.result.errors) == errors_before:
            # Falco reports unused items only when everything compiled
            for name, entry in self.col.macros.items():
                if name not in self.used_macros:
                    self.result.add(Code.LOAD_UNUSED_MACRO, "macro", name,
                                    "Macro not referred to by any other rule/macro",
                                    entry.item.position)
            for name, entry in self.col.lists.items():
                if name not in self.used_lists:
                    self.result.add(Code.LOAD_UNUSED_LIST, "list", name,
                                    "List not referred to by any other rule/macro",
                                    entry.item.position)
        return compiled


_FIELD_TOKEN = re.compile(r"%(\*?)(\(([^)]*)\)|([A-Za-z0-9_.]+)(\[[^\]]*\])?)")


def check_output_format(fmt: str) -> None:
    """Raise FormatError/FilterCompileError when ``fmt`` names an unknown field."""
    try:
        from falcolib.outputs.format import Formatter
    except ImportError:
        Formatter = None
    if Formatter is not None:
        if fmt not in _FORMATTERS:
            _FORMATTERS[fmt] = Formatter(fmt)
        return
    from falcolib.fields import lookup
    for m in _FIELD_TOKEN.finditer(fmt):
        name = (m.group(3) or m.group(4) or "").strip()
        name = name.split("[", 1)[0]
        if name:
            lookup(name)

