"""Filter micro-benchmark: ns/event of compiled conditions, cheap to heavy (one run, no loops).

    python3 benchmarks/filter.py

Part 1 isolates the filter: the same five conditions over views whose
fields are already extracted (each extractor is a plain attribute read), as
the generated matcher, and as a closure tree (one closure per AST node) for
comparison. Part 2 uses the real field catalogue on the shared captures:
the matcher's cost per event (extraction included) over views kept from
one replay, next to the cost of the replay itself.

Times are CPU time (time.process_time), best of three: the machine is shared.
"""
from __future__ import annotations

import time
from pathlib import Path

from falcolib.fields.catalogue import ArgKind, Field, FieldType as T
from falcolib.filter import ast, compile as compile_filter, parse

CAPS = sorted((Path(__file__).resolve().parents[1] / ".." / "shared" / "captures").glob("*.scap"))

NAMES50 = ", ".join(f"prog{i}" for i in range(49)) + ", sshd"
PATHS50 = ", ".join(f"/opt/app{i}" for i in range(49)) + ", /etc"
CONDITIONS = [
    ("cheap: evt.type", "evt.type = openat"),
    ("type + prefix", "evt.type in (open, openat, openat2) and evt.dir = < and fd.name startswith /etc"),
    ("rule-like", "evt.type in (open, openat, openat2) and evt.dir = < and fd.typechar = f "
                  "and fd.num >= 0 and not proc.name in (bash, sh, zsh) and fd.name startswith /etc"),
    ("lists of 50", f"evt.type in (open, openat, openat2, read, write) and proc.name in ({NAMES50}) "
                    f"and fd.directory in ({PATHS50})"),
    ("heavy: aname/glob/50", f"evt.type in (open, openat, openat2, read, write) and "
                             f"(proc.aname[2] in ({NAMES50}) or proc.aname[3] = systemd or "
                             f"proc.pname in ({NAMES50})) and fd.name glob '/etc/*' and "
                             f"not fd.directory in ({PATHS50})"),
]


class View:
    """Pre-extracted values: what the matcher costs without extraction work."""

    __slots__ = ("type", "dir", "fdname", "fddir", "typechar", "fdnum", "name", "pname", "anc")

    def __init__(self, i: int):
        self.type = ("openat", "read", "close", "openat")[i % 4]
        self.dir = "<" if i % 2 else ">"
        self.fdname = ("/etc/passwd", "/usr/lib/x.so", "/tmp/f")[i % 3]
        self.fddir = self.fdname.rpartition("/")[0]
        self.typechar = "f"
        self.fdnum = 3
        self.name = ("sshd", "cat", "bash")[i % 3]
        self.pname = "bash"
        self.anc = ("bash", "sshd", "systemd", "init")


def _attr(name):
    import operator
    return operator.attrgetter(name)


def _anc(view, n):
    a = view.anc
    return a[n - 1] if 0 < n <= len(a) else None


SYNTH = {f.name: f for f in [
    Field("evt.type", T.CHARBUF, "", _attr("type")), Field("evt.dir", T.CHARBUF, "", _attr("dir")),
    Field("fd.name", T.FSPATH, "", _attr("fdname")), Field("fd.directory", T.CHARBUF, "", _attr("fddir")),
    Field("fd.typechar", T.CHARBUF, "", _attr("typechar")), Field("fd.num", T.INT64, "", _attr("fdnum")),
    Field("proc.name", T.CHARBUF, "", _attr("name")), Field("proc.pname", T.CHARBUF, "", _attr("pname")),
    Field("proc.aname", T.CHARBUF, "", _anc, arg=ArgKind.OPT_INDEX),
]}


def closure_tree(node, lookup):
    """A one-closure-per-node evaluator, the design generated code replaces."""
    import operator as o
    match node:
        case ast.And(items):
            fs = [closure_tree(i, lookup) for i in items]
            return lambda v: all(f(v) for f in fs)
        case ast.Or(items):
            fs = [closure_tree(i, lookup) for i in items]
            return lambda v: any(f(v) for f in fs)
        case ast.Not(item):
            f = closure_tree(item, lookup)
            return lambda v: not f(v)
        case ast.Compare(field, op, value):
            x = lookup(field.name).bind(field.arg)
            if isinstance(value, ast.ListValue):
                s = frozenset(i.text if isinstance(i, ast.Literal) else i.name for i in value.items)
                return lambda v: x(v) in s
            k = value.text if not isinstance(value, ast.ListRef) else value.name
            if field.name == "fd.num":
                k = int(k)
            fn = {"=": o.eq, "!=": o.ne, ">=": o.ge, "<": o.lt, ">": o.gt, "<=": o.le,
                  "startswith": lambda a, b: a.startswith(b),
                  "glob": lambda a, b, _m={}: __import__("fnmatch").fnmatchcase(a, b)}[op.value]
            return lambda v: (lambda a: a is not None and fn(a, k))(x(v))
    raise TypeError(node)


def best(fn, tries=3) -> float:
    dt = float("inf")
    for _ in range(tries):
        t0 = time.process_time()
        fn()
        dt = min(dt, time.process_time() - t0)
    return dt


def part1(n: int = 200_000) -> None:
    views = [View(i) for i in range(64)] * (n // 64)
    count = len(views)
    print(f"Part 1: pre-extracted values, {count} evaluations per condition")
    print(f"{'condition':<24} {'generated':>10} {'closures':>10}")
    for label, text in CONDITIONS:
        node = parse(text)
        gen = compile_filter(node, lookup=SYNTH.__getitem__)
        tree = closure_tree(node, SYNTH.__getitem__)
        for v in views[:64]:
            assert gen(v) == tree(v), text
        base = best(lambda: [None for v in views])
        t_gen = best(lambda: [gen(v) for v in views]) - base
        t_tree = best(lambda: [tree(v) for v in views]) - base
        print(f"{label:<24} {t_gen / count * 1e9:>8.0f}ns {t_tree / count * 1e9:>8.0f}ns")


def part2(repeat: int = 5) -> None:
    try:
        from falcolib.decode.event import Event
        from falcolib.state import State
        from falcolib_scap import ScapBackend
    except ImportError as exc:
        print(f"Part 2 skipped: {exc}")
        return
    # views are kept after the replay, so state-based fields see the final state:
    # fine for timing, not for answers (the differential tests check answers)
    views = []
    t0 = time.process_time()
    for cap in CAPS:
        with ScapBackend(str(cap)) as backend:
            state = State(backend.snapshot())
            views.extend(state.process(Event(raw)) for raw in backend)
    replay = (time.process_time() - t0) / len(views)
    n = len(views)
    views = views * repeat
    print(f"\nPart 2: real fields, {n} events of {len(CAPS)} shared captures x {repeat} "
          f"(decode + state replay alone: {replay * 1e6:.1f} us/event)")
    base = best(lambda: [None for v in views])
    for label, text in CONDITIONS:
        m = compile_filter(parse(text))
        dt = best(lambda: [m(v) for v in views]) - base
        print(f"{label:<24} {dt / len(views) * 1e9:>8.0f}ns/event")


if __name__ == "__main__":
    part1()
    part2()
