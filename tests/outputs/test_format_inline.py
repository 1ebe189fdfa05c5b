"""Generated render functions: inlined hot fields say exactly what their extractors say."""
from __future__ import annotations

import pytest

from falcolib.decode import Event
from falcolib.engine import STATELESS_FIELDS, needs_state
from falcolib.outputs.format import NA, Formatter, inline_form
from falcolib.scap.reader import ScapReader
from falcolib.state import State

INLINE = ["evt.num", "evt.rawtime", "evt.cpu", "evt.dir", "evt.type", "thread.tid",
          "proc.name", "proc.pid", "proc.exe"]


def state_views(cap, limit=4000):
    reader = ScapReader(cap)
    state = State(reader.snapshot())
    for n, raw in enumerate(reader.events()):
        if n >= limit:
            break
        yield state.process(Event(raw))


class TestInline:
    """Each inlined field is inlined, and agrees with its catalogue extractor on real events."""

    @pytest.mark.parametrize("name", INLINE)
    def test_is_inlined(self, name):
        tok = Formatter("%" + name)._tokens[0]
        assert inline_form(tok) is not None

    def test_same_text_as_extractor(self, captures):
        fmts = {n: Formatter("*%" + n) for n in INLINE}
        toks = {n: f._tokens[0] for n, f in fmts.items()}
        checked = 0
        for cap in captures[:6]:
            for view in state_views(cap):
                for n, f in fmts.items():
                    tok = toks[n]
                    v = tok.get(view)
                    assert f.render(view) == (NA if v is None else tok.text(v)), (cap.name, n)
                    checked += 1
        assert checked > 10000

    def test_strict_drops_line_with_missing_inline_value(self, captures):
        """Without '*', a view with no thread prints nothing for %proc.name (sysdig)."""
        f = Formatter("%evt.num %proc.name")
        for cap in captures:
            for view in state_views(cap):
                if view.thread is None:
                    assert f.render(view) is None
                    return
        pytest.skip("no thread-less event in the first events of the captures")

    def test_literals_with_braces_and_quotes_stay_literal(self, captures):
        f = Formatter("*{x} '%evt.num' \"%proc.name\" %5evt.type|")
        view = next(state_views(captures[0], 1))
        name = view.evt.name
        comm = view.thread.comm if view.thread is not None else NA
        assert f.render(view) == f"{{x}} '{view.evt.num}' \"{comm}\" {name[:5].ljust(5)}|"


class TestStateless:
    """Which field sets the replay may serve without a state engine."""

    def test_event_only_fields(self):
        assert not needs_state({"evt.num", "evt.type", "evt.rawarg.res", "thread.tid"})

    @pytest.mark.parametrize("name", ["proc.name", "fd.name", "evt.args", "evt.arg.fd",
                                      "thread.exectime", "evt.latency", "proc.aname[2]", "nosuch"])
    def test_state_fields(self, name):
        assert needs_state({"evt.num", name})

    def test_stateless_fields_declare_event_only(self):
        from falcolib.fields import lookup
        for name in STATELESS_FIELDS:
            assert lookup(name).needs == frozenset({"event"}), name
