"""The %field format engine: sysdig -p parsing and <NA> semantics."""
from __future__ import annotations

import os
import subprocess

import pytest

from falcolib.decode import Event
from falcolib.errors import FormatError
from falcolib.outputs.format import Formatter
from falcolib.scap.reader import ScapReader
from falcolib.state.view import EventView


def views(cap):
    for raw in ScapReader(cap).events():
        yield EventView(Event(raw))


class TestParsing:
    """Names are resolved once; bad formats fail naming the problem."""

    def test_longest_name_and_literals(self):
        f = Formatter("%evt.num:%evt.args|%evt.rawtime.s")
        assert f.fields == ("evt.num", "evt.args", "evt.rawtime.s")

    def test_arg_suffix_takes_longest_param_name(self):
        f = Formatter("%evt.arg.fd) %evt.rawarg.name %evt.arg[1] %(evt.type)")
        assert f.fields == ("evt.arg.fd", "evt.rawarg.name", "evt.arg[1]", "evt.type")

    @pytest.mark.parametrize("bad", ["%", "%%", "%nosuch.field", "%evt.num %", "%12"])
    def test_errors(self, bad):
        with pytest.raises(FormatError):
            Formatter(bad)

    def test_unknown_field_is_named(self):
        with pytest.raises(FormatError, match="nosuch"):
            Formatter("x %nosuch.field")


class TestRendering:
    """sysdig skips a line when any field is missing, unless the format starts with '*'."""

    def test_missing_field_skips_line(self, shared_dir):
        cap = shared_dir / "captures/cat_write.scap"
        plain, star = Formatter("%evt.num %evt.arg.fd"), Formatter("*%evt.num %evt.arg.fd")
        lines = [(plain.render(v), star.render(v)) for v in views(cap)]
        assert any(p is None and s.endswith(" <NA>") for p, s in lines)
        assert all(p == s for p, s in lines if p is not None)

    def test_width(self, shared_dir):
        v = next(views(shared_dir / "captures/cat_write.scap"))
        assert Formatter("%8evt.type|%3evt.type|").render(v) == "procinfo|pro|"

    def test_values(self, shared_dir):
        v = next(views(shared_dir / "captures/cat_write.scap"))
        assert Formatter("%evt.num %evt.type %evt.arg.fd").values(v) == {
            "evt.num": 1, "evt.type": "procinfo", "evt.arg.fd": None}


@pytest.mark.oracle
def test_evt_fields_match_sysdig(shared_dir, sysdig):
    """A format of state-free evt.* fields prints what sysdig prints, line for line."""
    fmt = ("%evt.num %evt.time %evt.datetime %evt.rawtime.s.%evt.rawtime.ns %evt.cpu "
           "%evt.type %evt.dir %evt.res %evt.rawres %evt.failed %evt.is_io %evt.io_dir "
           "%evt.is_wait %evt.rawarg.res %evt.count.exit")
    env = {**os.environ, "TZ": "UTC"}
    for name in ("cat_write.scap", "curl_google.scap", "sample.scap"):
        cap = shared_dir / "captures" / name
        exp = subprocess.run([sysdig, "-r", str(cap), "-p", "*" + fmt], capture_output=True,
                             env=env, check=True).stdout.decode().splitlines()
        code = ("import sys; from tests.outputs.test_format import _print; _print(sys.argv[1], sys.argv[2])")
        got = subprocess.run(["python3", "-c", code, str(cap), "*" + fmt], capture_output=True,
                             env={**env, "PYTHONPATH": os.getcwd()}, check=True).stdout.decode().splitlines()
        assert got == exp, name


def _print(cap, fmt):
    """Print ``fmt`` for each event sysdig would print (no state needed by the fields used)."""
    from falcolib.decode.visibility import SysdigNumbering, sysdig_hides
    f = Formatter(fmt)
    numbering = SysdigNumbering()
    for raw in ScapReader(cap).events():
        n = numbering.number(raw.type)
        if n is None or sysdig_hides(raw.type, raw.flags):
            continue
        e = Event(raw._replace(num=n))
        if e.name == "container":
            continue
        print(f.render(EventView(e)))


EVT_FIELDS = ("evt.num evt.time evt.category evt.latency evt.latency.human evt.latency.ns "
              "evt.deltatime evt.deltatime.ns evt.count.error evt.count.error.net "
              "evt.count.error.other evt.count.error.memory evt.buffer evt.arg[0] evt.arg.fd "
              "evt.is_syslog evt.is_open_write evt.is_open_exec evt.buflen evt.outputtime "
              "evt.datetime.s evt.info evt.rawarg.res evt.rawarg.name evt.rawarg.data "
              "evt.is_wait evt.wait_latency syscall.type evt.time.iso8601 evt.res evt.rawres "
              "evt.failed evt.io_dir evt.is_io_read").split()


@pytest.mark.oracle
@pytest.mark.parametrize("cap", ["cat_write.scap", "curl_google.scap", "sample.scap",
                                 "psp_run_as_user_0_container.scap", "single_ipv6_conn.scap"])
def test_evt_fields_with_state_match_sysdig(shared_dir, sysdig, cap, monkeypatch):
    """Each evt.* field, printed with the state engine behind it, is what sysdig prints."""
    import re
    State = pytest.importorskip("falcolib.state").State
    from falcolib.decode.visibility import SysdigNumbering
    from falcolib_scap import ScapBackend
    path = shared_dir / "captures" / cap
    fmt = "@@%evt.num@@" + "@@".join("%" + f for f in EVT_FIELDS)
    out = subprocess.run([sysdig, "-r", str(path), "-p", "*" + fmt], capture_output=True,
                         env={**os.environ, "TZ": "UTC"}, check=True).stdout
    text = out.decode("utf-8", "surrogateescape").removesuffix("\n")
    exp = {}
    for line in re.split(r"(?:^|\n)(?=@@\d+@@)", text):
        if line:
            parts = line.split("@@")
            exp[int(parts[1])] = parts[2:]
    formatters = [Formatter("*%" + f) for f in EVT_FIELDS]
    numbering = SysdigNumbering()
    diffs = []
    import time as _time
    monkeypatch.setenv("TZ", "UTC")
    _time.tzset()
    with ScapBackend(path) as backend:
        state = State(backend.snapshot())
        for raw in backend:
            n = numbering.number(raw.type)
            if n is None:
                continue
            view = state.process(Event(raw._replace(num=n)))
            if n in exp:
                for name, f, want in zip(EVT_FIELDS, formatters, exp[n]):
                    got = f.render(view)
                    if got != want:
                        diffs.append((n, name, want[:60], got[:60]))
    # the only expected difference: relative paths in evt.info need State.resolve_path
    diffs = [d for d in diffs if not (d[1] == "evt.info" and "(/)" in d[2])]
    monkeypatch.undo()
    _time.tzset()
    assert diffs == []
