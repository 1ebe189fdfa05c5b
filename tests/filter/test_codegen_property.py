"""Generated code against a plain AST-walking evaluator, on random conditions and events.

The evaluator below states the semantics directly (no value: false; ``in``
is membership; any-of fields match if one value does); the compiled
matcher must agree with it on every generated condition and view. This
guards the code generator's structure: parentheses, short-circuits, and
fields extracted once per event into shared locals.
"""
from __future__ import annotations

import operator

from hypothesis import given, settings, strategies as st

from falcolib.fields.catalogue import ArgKind, Field, FieldType as T
from falcolib.filter import ast, compile as compile_filter
from falcolib.filter.operators import Operator

NAMES = ("s.a", "s.b", "n.a", "n.b", "m.any")
TYPES = {"s.a": T.CHARBUF, "s.b": T.CHARBUF, "n.a": T.INT64, "n.b": T.INT64, "m.any": T.CHARBUF}
FIELDS = {n: Field(n, TYPES[n], "", (lambda view, _n=n: view.get(_n)))
          for n in NAMES if n != "m.any"}
FIELDS["m.any"] = Field("m.any", T.CHARBUF, "", lambda view, arg=None: view.get("m.any"),
                        arg=ArgKind.OPT_INDEX, list_without_arg=True)
WORDS = ("x", "y", "xy", "")
NUMS = ("0", "1", "-1", "7")

_CMP = {Operator.EQ: operator.eq, Operator.NE: operator.ne, Operator.LT: operator.lt,
        Operator.LE: operator.le, Operator.GT: operator.gt, Operator.GE: operator.ge,
        Operator.CONTAINS: lambda a, b: b in a, Operator.STARTSWITH: str.startswith,
        Operator.ENDSWITH: str.endswith}


def reference(node, view) -> bool:
    match node:
        case ast.And(items):
            return all(reference(i, view) for i in items)
        case ast.Or(items):
            return any(reference(i, view) for i in items)
        case ast.Not(item):
            return not reference(item, view)
        case ast.Unary(field, _):
            return view.get(field.name) is not None
        case ast.Compare(field, op, value):
            v = view.get(field.name)
            if v is None:
                return False
            numeric = TYPES[field.name] is T.INT64
            conv = int if numeric else str
            values = v if field.name == "m.any" else (v,)
            if op is Operator.IN:
                wanted = {conv(i.text) for i in value.items}
                return any(x in wanted for x in values)
            fn, k = _CMP[op], conv(value.text)
            return any(fn(x, k) for x in values)
    raise AssertionError(node)


_str_fields = st.sampled_from(["s.a", "s.b", "m.any"]).map(ast.FieldRef)
_num_fields = st.sampled_from(["n.a", "n.b"]).map(ast.FieldRef)
_str_ops = st.sampled_from([Operator.EQ, Operator.NE, Operator.CONTAINS, Operator.STARTSWITH,
                            Operator.ENDSWITH])
_num_ops = st.sampled_from([Operator.EQ, Operator.NE, Operator.LT, Operator.LE, Operator.GT,
                            Operator.GE])
_leaves = st.one_of(
    st.builds(ast.Compare, _str_fields, _str_ops, st.sampled_from(WORDS).map(ast.Literal)),
    st.builds(ast.Compare, _num_fields, _num_ops, st.sampled_from(NUMS).map(ast.Literal)),
    st.builds(ast.Compare, _str_fields, st.just(Operator.IN),
              st.lists(st.sampled_from(WORDS).map(ast.Literal), max_size=3).map(ast.ListValue)),
    st.builds(ast.Compare, _num_fields, st.just(Operator.IN),
              st.lists(st.sampled_from(NUMS).map(ast.Literal), max_size=3).map(ast.ListValue)),
    st.builds(ast.Unary, st.sampled_from(NAMES).map(ast.FieldRef)),
)
_conditions = st.recursive(
    _leaves,
    lambda inner: st.builds(ast.Not, inner)
    | st.lists(inner, min_size=2, max_size=4).map(ast.And)
    | st.lists(inner, min_size=2, max_size=4).map(ast.Or),
    max_leaves=10)
_views = st.fixed_dictionaries({
    "s.a": st.none() | st.sampled_from(WORDS), "s.b": st.none() | st.sampled_from(WORDS),
    "n.a": st.none() | st.integers(-2, 8), "n.b": st.none() | st.integers(-2, 8),
    "m.any": st.none() | st.lists(st.sampled_from(WORDS), max_size=3).map(tuple),
})


class TestAgainstReference:
    """Compiled matchers agree with the reference evaluator everywhere."""

    @settings(max_examples=400, deadline=None)
    @given(_conditions, st.lists(_views, min_size=1, max_size=4))
    def test_same_answers(self, node, views):
        matcher = compile_filter(node, lookup=FIELDS.__getitem__)
        for view in views:
            assert matcher(view) is reference(node, view), (node.to_source(), view)
