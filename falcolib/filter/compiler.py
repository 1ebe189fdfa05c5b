"""Compile a macro-free condition AST into one generated Python function.

Each field is resolved to a bound extractor and each literal converted to
its compare value once, here; the AST becomes the source of a single
function ``_matcher(view)`` whose body is one boolean expression, and that
source goes through ``compile()``/``exec`` with the extractors and
constants as its globals. Per event there is no AST walking, no field-name
lookup and no literal parsing, and a field used at several places is
extracted at most once (on first need, into a local of the function).

Semantics follow libsinsp: a field without a value (``None``) makes every
comparison false (``!=`` too) and ``exists`` false; ``in``/``intersects``
on a single-valued field is set membership; on a list field ``in`` means
every value is in the set and ``intersects`` that one is; ``regex`` must
match the whole value; ``glob`` is fnmatch; ``pmatch`` a path-prefix
test. A bare word in a list (``ListRef``) that nobody resolved is taken as
its text, as libsinsp does; an ``Identifier`` (macro) left is an error.

The matcher is the generated function itself, carrying ``.evttypes``,
``.fields``, ``.condition`` and ``.source`` as attributes. Every check (fields,
arguments, operators, literals) is made when the source is generated; the
source itself goes through ``compile()`` on the matcher's first call (a rule
set loads many rules that never meet an event): until then the function's
code is a stub that compiles the real code and swaps it in. The generated
source cannot fail to compile: it holds only names and operators, and a
condition nested deeper than ``MAX_NESTING`` and/or/not levels (macros inside
macros) has its deeper subtrees generated as functions of their own, below
Python's limit of nested parentheses.
"""
from __future__ import annotations

import collections
import re
from typing import Any, Callable, Protocol

from falcolib.errors import FilterCompileError
from falcolib.fields import dns
from falcolib.fields.catalogue import ArgKind, Field, FieldType
from falcolib.filter import ast, literals, matching
from falcolib.filter.evttypes import condition_evttypes
from falcolib.filter.lazyfn import lazy_function
from falcolib.filter.operators import Operator, Transformer

class Matcher(Protocol):
    """What ``compile`` returns: a function of a view, with what it was built from."""

    evttypes: frozenset[int] | None  # the event types it can match; None = any
    fields: frozenset[str]           # the field names it reads
    condition: Any                   # the AST it was compiled from
    source: str                      # the generated Python source
    type_errors: list[int]           # [count] of comparisons Python could not make

    def __call__(self, view) -> bool: ...


_ALLOWED = {
    "string": frozenset(Operator) - {Operator.BCONTAINS, Operator.BSTARTSWITH},
    "bytes": frozenset({Operator.EQ, Operator.NE, Operator.CONTAINS, Operator.IN,
                        Operator.INTERSECTS, Operator.EXISTS, Operator.STARTSWITH,
                        Operator.ENDSWITH, Operator.BCONTAINS, Operator.BSTARTSWITH}),
    "number": frozenset({Operator.EQ, Operator.NE, Operator.LT, Operator.LE, Operator.GT,
                         Operator.GE, Operator.IN, Operator.INTERSECTS, Operator.EXISTS}),
    "bool": frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.INTERSECTS,
                       Operator.EXISTS}),
    "addr": frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.INTERSECTS,
                       Operator.EXISTS}),
    "net": frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.INTERSECTS,
                      Operator.EXISTS}),
    "list": frozenset({Operator.IN, Operator.INTERSECTS, Operator.EXISTS}),
}
# and/or/not levels in one generated expression: Python refuses ~200 nested parentheses,
# and a comparison adds a few
MAX_NESTING = 60
_SYMBOL = {Operator.EQ: "==", Operator.NE: "!=", Operator.LT: "<", Operator.LE: "<=",
           Operator.GT: ">", Operator.GE: ">="}


class _Operand:
    """A resolved field: its extractor (transformers applied), type and list-ness."""

    __slots__ = ("ref", "field", "extract", "type", "is_list", "any_of", "dynamic")

    def __init__(self, ref: ast.FieldRef, field: Field, extract, ftype: FieldType,
                 is_list: bool, any_of: bool, dynamic: bool = False):
        self.ref, self.field, self.extract = ref, field, extract
        self.type, self.is_list, self.any_of = ftype, is_list, any_of
        self.dynamic = dynamic  # value type known per event only (see compare_dynamic)

    def typed(self, ftype: FieldType) -> "_Operand":
        return _Operand(self.ref, self.field, self.extract, ftype, self.is_list, self.any_of)

    @property
    def family(self) -> str:
        return "list" if self.is_list else literals.type_family(self.type)


def per_event(extract):
    """``extract`` remembering its last event's value: matchers compiled with one
    ``shared`` dict (a rule set's rules) extract a field once per event between them.
    Keyed by the Event object (kept alive, so never confused with a later one); only
    for matchers evaluated after the event was applied to the state, as rules are."""
    last = [None, None]

    def extract_once(view):
        evt = view.evt
        if last[0] is evt:
            return last[1]
        value = extract(view)
        last[0] = evt
        last[1] = value
        return value
    extract_once.last = last   # read inline by the generated matchers (see _Codegen.finish)
    return extract_once


class _Codegen:
    def __init__(self, lookup: Callable[[str], Field], shared: dict | None = None):
        self.lookup = lookup
        self.shared = shared
        self.names: dict[str, Any] = {}
        self.fields: set[str] = set()
        self._ids: dict[int, str] = {}
        self._tmp = 0
        self._operands: dict[tuple, _Operand] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self._depth = 0   # and/or/not levels open in the expression being generated

    # -- constants and temporaries -------------------------------------------
    def const(self, value: Any, prefix: str = "_k") -> str:
        key = id(value)
        name = self._ids.get(key)
        if name is None or self.names.get(name) is not value:
            name = f"{prefix}{len(self.names)}"
            self.names[name] = value
            self._ids[key] = name
        return name

    def tmp(self) -> str:
        self._tmp += 1
        return f"_v{self._tmp}"

    # -- boolean structure ----------------------------------------------------
    def expr(self, node) -> str:
        if isinstance(node, (ast.And, ast.Or, ast.Not)):
            if self._depth >= MAX_NESTING:
                return self.subfunction(node)
            self._depth += 1
            try:
                return self.boolean(node)
            finally:
                self._depth -= 1
        match node:
            case ast.Unary(field, _):
                return f"({self.call(self.operand(field))} is not None)"
            case ast.Compare(field, op, value):
                return self.compare(self.operand(field), op, value)
            case ast.Identifier(name):
                raise FilterCompileError(f"undefined macro {name!r}", position=node.position)
        raise FilterCompileError(f"not a condition: {node!r}")

    def boolean(self, node) -> str:
        match node:
            case ast.And(items):
                return "(" + " and ".join(self.expr(i) for i in items) + ")"
            case ast.Or(items):
                return "(" + " or ".join(self.expr(i) for i in items) + ")"
        return f"(not {self.expr(node.item)})"

    def subfunction(self, node) -> str:
        """``node`` (nested too deep for one expression) as a call to a function of its
        own, generated with this one's lookup and shared extractors; a TypeError in it
        goes up to the condition's own handler."""
        gen = _Codegen(self.lookup, self.shared)
        gen._operands = self._operands
        fn = _function(gen, gen.expr(node), catch=False)
        self.fields |= gen.fields
        return f"{self.const(fn, '_h')}(view)"

    # -- operands -------------------------------------------------------------
    def operand(self, ref: ast.FieldRef) -> _Operand:
        key = (ref.name, ref.arg, ref.transformers)
        known = self._operands.get(key)
        if known is not None:  # one extractor per distinct field use: extracted once per event
            return _Operand(ref, known.field, known.extract, known.type, known.is_list,
                            known.any_of, known.dynamic)
        operand = self._new_operand(ref)
        if self.shared is not None:
            once = self.shared.get(key)
            if once is None:
                once = self.shared[key] = per_event(operand.extract)
            operand.extract = once
        self._operands[key] = operand
        return operand

    def _new_operand(self, ref: ast.FieldRef) -> _Operand:
        try:
            field = self.lookup(ref.name)
            if field.arg is ArgKind.NAME_SUFFIX and ref.name != field.name:
                if ref.arg is not None:
                    raise FilterCompileError(f"field {ref.name!r} takes no [argument]")
                extract = field.bind(ref.name[len(field.name) + 1:])
            else:
                extract = field.bind(ref.arg)
            ftype, is_list = field.type, field.is_list
            arg_type = getattr(field, "arg_type", None)  # a type that depends on the argument
            typed = None   # None: no static type for this argument
            if arg_type is not None:
                typed = arg_type(ref.arg if ref.arg is not None else ref.name[len(field.name) + 1:])
                ftype = typed or ftype
        except FilterCompileError as exc:
            raise FilterCompileError(exc.message, position=exc.position or ref.position,
                                     hint=exc.hint) from None
        self.fields.add(ref.name)
        # several values matched any-of (proc.aname without [n]: any ancestor), as sysdig does
        any_of = bool(getattr(field, "list_without_arg", False)) and ref.arg is None
        for tr in ref.transformers:
            # len() counts a multi-valued field's values; the others map over them
            multi = (any_of or is_list) and tr is not Transformer.LEN
            ftype, is_list = literals.transformed_type(tr, ftype, is_list, ref)
            extract = matching.transformed(extract, tr, multi)
            if tr is Transformer.LEN:
                any_of = False
        # a field whose value type depends on the event (evt.rawarg.NAME: an int for
        # an fd, a str for a path) and whose declaration gives no per-argument type
        dynamic = (field.arg is ArgKind.NAME_SUFFIX and not ref.transformers and typed is None
                   and literals.type_family(ftype) == "string")
        return _Operand(ref, field, extract, ftype, is_list, any_of, dynamic)

    def call(self, operand: _Operand) -> str:
        """A placeholder for the extractor's call, resolved by ``finish``."""
        name = self.const(operand.extract, "_x")
        self.calls[name] += 1
        return f"\x00{name}\x00"

    def finish(self, body: str) -> tuple[str, list[str]]:
        """Resolve call placeholders: a field called at several places is extracted once
        per event, on first need, into a local (``_cN``, initially ``_NA``)."""
        shared = [name for name, n in self.calls.items() if n > 1]
        call = {}
        for name in self.calls:
            last = getattr(self.names[name], "last", None)
            if last is None:
                call[name] = f"{name}(view)"
            else:   # a per_event extractor: its remembered value read inline when it is this event's
                memo = "_m" + name[2:]
                self.names[memo] = last
                call[name] = f"({memo}[1] if {memo}[0] is _e else {name}(view))"
        for name in shared:
            local = "_c" + name[2:]
            body = body.replace(f"\x00{name}\x00",
                                f"({local} if {local} is not _NA else ({local} := {call[name]}))")
        body = _PLACEHOLDER.sub(lambda m: call[m.group(1)], body)
        return body, ["_c" + name[2:] for name in shared]

    # -- comparisons ----------------------------------------------------------
    def compare(self, lhs: _Operand, op: Operator, value) -> str:
        name = lhs.ref.display
        if op not in _ALLOWED[lhs.family]:
            what = "list field" if lhs.is_list else f"field of type {lhs.type.value}"
            raise FilterCompileError(
                f"operator {op.value!r} is not supported for {what} {name!r}",
                position=lhs.ref.position)
        if isinstance(value, ast.FieldValue):
            return self.compare_fields(lhs, op, self.operand(value.field))
        if lhs.field.name in dns.FIELDS and not lhs.ref.transformers and \
                op in (Operator.EQ, Operator.NE, Operator.IN):
            return self.compare_domain(lhs, op, value)
        if op.is_list:
            items = literals.list_texts(value, op, name, lhs.ref)
            self.check_literals(lhs, items)
            return self.compare_list(lhs, op, items)
        if not isinstance(value, ast.Literal):
            if isinstance(value, ast.ListRef):  # a bare word
                value = ast.Literal(value.name)
            else:
                raise FilterCompileError(f"operator {op.value!r} takes a single value, not a list",
                                         position=lhs.ref.position)
        self.check_literals(lhs, [value.text])
        hex_bytes = op in (Operator.BCONTAINS, Operator.BSTARTSWITH)
        if self.is_dynamic(lhs):
            return self.compare_dynamic(lhs, op, lambda o: self.compare_const(
                o, op, self.literal(value.text, o, hex_bytes=hex_bytes)))
        const = self.literal(value.text, lhs, hex_bytes=hex_bytes)
        return self.compare_const(lhs, op, const)

    def compare_domain(self, lhs: _Operand, op: Operator, value) -> str:
        """``fd.sip.name = example.com``: libsinsp's DNS manager match (falcolib.fields.dns)."""
        if op.is_list:
            names = literals.list_texts(value, op, lhs.ref.display, lhs.ref)
        elif isinstance(value, (ast.Literal, ast.ListRef)):
            names = [value.text if isinstance(value, ast.Literal) else value.name]
        else:
            raise FilterCompileError(f"operator {op.value!r} takes a single value, not a list",
                                     position=lhs.ref.position)
        self.fields.add(lhs.ref.name)
        fn = self.const(dns.domain_matcher(dns.FIELDS[lhs.field.name], names,
                                           negate=op is Operator.NE), "_f")
        return f"{fn}(view)"

    @staticmethod
    def check_literals(lhs: _Operand, texts: list[str]) -> None:
        """The field's own check of its literals (libsinsp's validate_filter_value),
        for the untransformed field only: a transformer changes what is compared."""
        check = getattr(lhs.field, "check_literal", None)
        if check is None or lhs.ref.transformers:
            return
        for text in texts:
            try:
                check(text)
            except FilterCompileError as exc:
                raise FilterCompileError(f"field {lhs.ref.display!r}: {exc.message}",
                                         position=lhs.ref.position) from None

    @staticmethod
    def is_dynamic(lhs: _Operand) -> bool:
        return lhs.dynamic

    def compare_dynamic(self, lhs: _Operand, op: Operator, build) -> str:
        """Numeric semantics when the value is an int, string semantics otherwise
        (sysdig types evt.rawarg.NAME by the parameter's type)."""
        as_text = build(lhs.typed(lhs.type))
        if op not in _ALLOWED["number"]:
            return as_text
        num = lhs.typed(FieldType.INT64)
        try:
            as_number = build(num)
        except FilterCompileError:
            as_number = "False"  # the literal is no number: an int value never matches
        isint = self.const(_is_int, "_f")
        return f"({as_number} if {isint}({self.call(lhs)}) else {as_text})"

    def literal(self, text: str, lhs: _Operand, *, hex_bytes: bool = False):
        return literals.convert_at(text, lhs.type, lhs.ref, hex_bytes=hex_bytes)

    def compare_const(self, lhs: _Operand, op: Operator, const) -> str:
        if lhs.family == "net":  # fd.net = 10.0.0.0/8: the value inside the network
            fn = self.const(matching.net_matcher([const]), "_f")
            return self.wrap(lhs, lambda v: f"{'not ' if op is Operator.NE else ''}{fn}({v})",
                             every=op is Operator.NE)
        if op is Operator.EQ and not lhs.any_of:
            return f"({self.call(lhs)} == {self.const(const)})"
        k = self.const(const)
        if op in _SYMBOL:
            return self.wrap(lhs, lambda v: f"{v} {_SYMBOL[op]} {k}", every=op is Operator.NE)
        if op in (Operator.CONTAINS, Operator.BCONTAINS):
            return self.wrap(lhs, lambda v: f"{k} in {v}")
        if op is Operator.ICONTAINS:
            low = self.const(matching.TRANSFORMS[Transformer.TOLOWER](const))
            tl = self.const(matching.TRANSFORMS[Transformer.TOLOWER], "_f")  # ASCII, as strcasestr
            return self.wrap(lhs, lambda v: f"{low} in {tl}({v})")
        if op in (Operator.STARTSWITH, Operator.BSTARTSWITH):
            return self.wrap(lhs, lambda v: f"{v}.startswith({k})")
        if op is Operator.ENDSWITH:
            return self.wrap(lhs, lambda v: f"{v}.endswith({k})")
        if op is Operator.GLOB:
            m = self.const(matching.glob_regex(const).fullmatch, "_m")
            return self.wrap(lhs, lambda v: f"{m}({v}) is not None")
        if op is Operator.IGLOB:
            m = self.const(matching.glob_matcher(const, casefold=True), "_f")
            return self.wrap(lhs, lambda v: f"{m}({v})")
        if op is Operator.REGEX:
            try:
                rx = re.compile(const, re.S).fullmatch
            except re.error as exc:
                raise FilterCompileError(
                    f"field {lhs.ref.display!r}: invalid regex {const!r} ({exc})",
                    position=lhs.ref.position) from None
            m = self.const(rx, "_m")
            return self.wrap(lhs, lambda v: f"{m}({v}) is not None")
        raise FilterCompileError(f"operator {op.value!r} needs a list",  # pragma: no cover
                                 position=lhs.ref.position)

    def wrap(self, lhs: _Operand, test: Callable[[str], str], every: bool = False) -> str:
        """``test`` on the field's value, false when there is none; any-of for multi-valued
        (all-of when ``every`` and the field says ``ne_all``: sysdig's ``fd.ip != x``)."""
        v = self.tmp()
        if lhs.any_of:
            quant = "all" if every and getattr(lhs.field, "ne_all", False) else "any"
            each = f"{quant}({test('_i')} for _i in {v})"
            return f"(({v} := {self.call(lhs)}) is not None and {each})"
        return f"(({v} := {self.call(lhs)}) is not None and {test(v)})"

    def compare_list(self, lhs: _Operand, op: Operator, texts: list[str]) -> str:
        if op is Operator.PMATCH:
            if lhs.family != "string":
                raise FilterCompileError(f"operator 'pmatch' needs a string field, "
                                         f"not {lhs.ref.display!r}", position=lhs.ref.position)
            fn = self.const(matching.pmatch_matcher(texts), "_f")
            return self.wrap(lhs, lambda v: f"{fn}({v})")
        if self.is_dynamic(lhs):
            return self.compare_dynamic(lhs, op, lambda o: self.compare_list(o, op, texts))
        if lhs.is_list:
            values = frozenset(literals.convert_at(t, lhs.type, lhs.ref) for t in texts)
            k = self.const(values, "_s")
            if op is Operator.IN:
                return self.wrap(lhs, lambda v: f"{k}.issuperset({v})")
            return self.wrap(lhs, lambda v: f"not {k}.isdisjoint({v})")
        if lhs.family == "net":
            nets = [self.literal(t, lhs) for t in texts]
            fn = self.const(matching.net_matcher(nets), "_f")
            return self.wrap(lhs, lambda v: f"{fn}({v})")
        k = self.const(frozenset(self.literal(t, lhs) for t in texts), "_s")
        if lhs.any_of:
            return self.wrap(lhs, lambda v: f"{v} in {k}")
        return f"({self.call(lhs)} in {k})"

    def compare_fields(self, lhs: _Operand, op: Operator, rhs: _Operand) -> str:
        if op in (Operator.PMATCH, Operator.REGEX):
            raise FilterCompileError(f"operator {op.value!r} cannot compare with a field",
                                     position=lhs.ref.position)
        if lhs.family == "net":
            raise FilterCompileError(f"network field {lhs.ref.display!r} cannot compare "
                                     f"with a field", position=lhs.ref.position)
        if lhs.family != rhs.family and not (lhs.family == "list" or rhs.family == "list"):
            raise FilterCompileError(
                f"cannot compare {lhs.ref.display!r} ({lhs.type.value}) with "
                f"{rhs.ref.display!r} ({rhs.type.value})", position=rhs.ref.position)
        a, b = self.tmp(), self.tmp()
        pre = f"({a} := {self.call(lhs)}) is not None and ({b} := {self.call(rhs)}) is not None"
        x = "_i" if lhs.any_of else a
        ys = [("_j" if rhs.any_of else b)]
        y = ys[0]
        if op in _SYMBOL:
            test = f"{x} {_SYMBOL[op]} {y}"
        elif op in (Operator.CONTAINS, Operator.BCONTAINS):
            test = f"{y} in {x}"
        elif op is Operator.ICONTAINS:
            tl = self.const(matching.TRANSFORMS[Transformer.TOLOWER], "_f")
            test = f"{tl}({y}) in {tl}({x})"
        elif op in (Operator.STARTSWITH, Operator.BSTARTSWITH):
            test = f"{x}.startswith({y})"
        elif op is Operator.ENDSWITH:
            test = f"{x}.endswith({y})"
        elif op in (Operator.GLOB, Operator.IGLOB):
            fn = self.const(matching.dynamic_glob(op is Operator.IGLOB), "_f")
            test = f"{fn}({y}, {x})"
        elif lhs.is_list and rhs.is_list:
            test = (f"set({y}).issuperset({x})" if op is Operator.IN
                    else f"not set({y}).isdisjoint({x})")
        elif rhs.is_list:
            test = f"{x} in {y}"
        elif lhs.is_list:
            test = f"{y} in {x}" if op is Operator.INTERSECTS else f"all(_k == {y} for _k in {x})"
        else:
            test = f"{x} == {y}"
        if rhs.any_of:
            test = f"any({test} for _j in {b})"
        if lhs.any_of:
            test = f"any({test} for _i in {a})"
        return f"({pre} and {test})"


_NA = object()  # "not extracted yet" in a matcher's locals
_PLACEHOLDER = re.compile("\x00(_x[0-9]+)\x00")


def _is_int(value) -> bool:
    return isinstance(value, int)


def compile_condition(node, *, lookup=None, shared: dict | None = None) -> Matcher:
    """The matcher of ``node``: ``matcher(view) -> bool`` (see the module doc).

    ``shared``: one dict for several matchers evaluated on the same events one after
    the other (a rule set): each field is then extracted once per event for all of
    them (``per_event``). Not for a filter evaluated before the state parsed the event.
    Raises FilterCompileError here; the Python code is compiled on the first call.
    """
    custom_lookup = lookup
    if lookup is None:
        from falcolib.fields import lookup
    gen = _Codegen(lookup, shared)
    type_errors = [0]
    matcher = _function(gen, gen.expr(node), catch=True, type_errors=type_errors)
    matcher.condition = node
    matcher.fields = frozenset(gen.fields)
    matcher.evttypes = condition_evttypes(node)
    matcher.type_errors = type_errors
    matcher.lookup = custom_lookup   # None: the catalogue's (compile_sequence may join it)
    return matcher


def _function(gen: _Codegen, expr: str, *, catch: bool, type_errors: list | None = None):
    """The generated ``_matcher(view)`` returning ``expr`` (a stub until its first call,
    see the module doc). With ``catch``, a comparison Python cannot make (a field whose
    values change type, like evt.rawarg.*) makes it False, counted in ``type_errors[0]``;
    without, the TypeError goes to the caller (a subfunction's condition)."""
    body, locals_ = gen.finish(expr)
    init = f"    {' = '.join(locals_)} = _NA\n" if locals_ else ""
    if gen.shared is not None:
        init += "    _e = view.evt\n"
    if catch:
        source = (f"def _matcher(view):\n{init}    try:\n        return {body}\n"
                  f"    except TypeError:\n        _type_errors[0] += 1\n        return False\n")
    else:
        source = f"def _matcher(view):\n{init}    return {body}\n"
    namespace = dict(gen.names)
    namespace["_NA"] = _NA
    namespace["_type_errors"] = type_errors
    return lazy_function(source, namespace)
