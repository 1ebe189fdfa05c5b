"""evt.* fields on events built in memory and on a real capture."""
from __future__ import annotations

import struct

import pytest

from falcolib.decode import Event
from falcolib.errors import FilterCompileError
from falcolib.fields import lookup, resolve
from falcolib.state.view import EventView
from tests.decode.conftest import build_raw


def view(etype, params, **kw):
    return EventView(Event(build_raw(etype, params, **kw)))


def _q(v):
    return struct.pack("<q", v)


class TestResult:
    """evt.res / evt.rawres / evt.failed read res, or fd for fd-creating exits."""

    def test_failed_open(self):
        v = view(3, [_q(-2), b"/nope\0", b"\1\0\0\0", b"\0" * 4, b"\0" * 4, b"\0" * 8])
        assert resolve("evt.res")(v) == "ENOENT"
        assert resolve("evt.rawres")(v) == -2
        assert resolve("evt.failed")(v) is True
        assert resolve("evt.is_open_read")(v) is True

    def test_success(self):
        v = view(5, [_q(0)])  # close exit
        assert resolve("evt.res")(v) == "SUCCESS" and resolve("evt.failed")(v) is False


class TestTypeAndTime:
    """Names, directions, categories and times."""

    def test_type_fields(self):
        v = view(3, [_q(3), b"/etc/passwd\0", b"\1\0\0\0", b"\0" * 4, b"\0" * 4, b"\0" * 8],
                 ts=1_470_327_477_881_730_713)
        assert resolve("evt.type")(v) == "open" and resolve("evt.dir")(v) == "<"
        assert resolve("evt.type.is.open")(v) == 1 and resolve("evt.type.is.read")(v) == 0
        assert resolve("evt.category")(v) == "file"
        assert resolve("evt.rawtime.s")(v) == 1_470_327_477
        assert lookup("evt.rawtime.ns").render(resolve("evt.rawtime.ns")(v)) == "881730713"
        assert resolve("evt.time.iso8601")(v) == "2016-08-04T16:17:57.881730713+0000"

    def test_generic_event_takes_syscall_name(self):
        v = view(1, [struct.pack("<H", 5), struct.pack("<H", 2)])
        assert resolve("evt.type")(v) == "open" and resolve("evt.args")(v) == ""

    def test_arg_fields(self):
        v = view(3, [_q(3), b"/etc/passwd\0", b"\1\x10\0\0", b"\0" * 4, b"\0" * 4, b"\0" * 8])
        assert resolve("evt.arg.name")(v) == "/etc/passwd"
        assert resolve("evt.arg", "2")(v) == "O_RDONLY|O_CLOEXEC"
        assert resolve("evt.rawarg.flags")(v) == 4097
        with pytest.raises(FilterCompileError, match="zzz"):
            resolve("evt.arg.zzz_not_a_param")   # at compile time, not per event
        with pytest.raises(FilterCompileError):
            resolve("evt.type.is.not_an_event")

    def test_deltatime_is_per_use(self):
        a, b = resolve("evt.deltatime"), resolve("evt.deltatime")
        v1 = view(5, [_q(0)], ts=1000)
        v2 = view(5, [_q(0)], ts=1500)
        assert (a(v1), a(v2)) == (0, 500)
        assert b(v2) == 0

    def test_deltatime_is_unsigned(self):
        """An event older than the previous one wraps around, as sysdig's u64 delta."""
        a = resolve("evt.deltatime")
        a(view(5, [_q(0)], ts=2000))
        assert a(view(5, [_q(0)], ts=1500)) == (1 << 64) - 500

    def test_reltime_counts_from_first_non_container_event(self):
        """evt.reltime is relative to the first event that is not container JSON
        (sysdig's m_firstevent_ts), whichever event the field first sees."""
        from falcolib.state import State
        state = State(None)
        rel = resolve("evt.reltime")
        container = state.process(Event(build_raw(272, [b"{}\0"], ts=9000)))
        assert state.first_ts == 0 and rel(container) == 9000
        state.process(Event(build_raw(5, [_q(0)], ts=5000)))
        later = state.process(Event(build_raw(5, [_q(0)], ts=7500)))
        assert state.first_ts == 5000 and rel(later) == 2500
        assert resolve("evt.reltime.s")(later) == 0 and resolve("evt.reltime.ns")(later) == 2500


class TestTypeLiterals:
    """evt.type values must name an event or a syscall, as sysdig's validate_filter_value."""

    @pytest.mark.parametrize("cond", ["evt.type = opne", "evt.type in (open, opne)",
                                      "evt.type != opne", "evt.type startswith opn",
                                      'evt.type = ""', "evt.type = OPEN"])
    def test_unknown_name_refused(self, cond):
        from falcolib.filter import compile as compile_filter, parse
        with pytest.raises(FilterCompileError) as info:
            compile_filter(parse(cond))
        bad = cond.split()[-1].strip("()\"")
        assert "'evt.type'" in info.value.message and f"unknown event type {bad!r}" in info.value.message
        assert info.value.position is not None and info.value.position.column == 1

    @pytest.mark.parametrize("cond", ["evt.type = open", "evt.type = bpf", "evt.type = switch",
                                      "evt.type in (execve, procinfo)", "syscall.type = opne",
                                      "toupper(evt.type) = OPEN", "evt.type exists"])
    def test_known_names_and_other_fields_accepted(self, cond):
        """Event names, syscall names without an event (bpf); other fields and transformed values unchecked."""
        from falcolib.filter import compile as compile_filter, parse
        compile_filter(parse(cond))


class TestRawargTypes:
    """evt.rawarg.NAME is typed by its parameter (the first of that name in sysdig's table)."""

    def test_arg_type(self):
        from falcolib.fields.catalogue import FieldType as T
        f = lookup("evt.rawarg")
        assert f.arg_type("fd") is T.FD and f.arg_type("res") is T.ERRNO
        assert f.arg_type("size") is T.UINT32 and f.arg_type("name") is T.FSPATH
        assert f.arg_type("data") is None   # a buffer: no filter value type in libsinsp

    def test_literals_typed_by_parameter(self):
        from falcolib.filter import compile as compile_filter, parse
        with pytest.raises(FilterCompileError, match="'evt.rawarg.fd'.*'abc'.*FD"):
            compile_filter(parse("evt.rawarg.fd = abc"))
        v = view(3, [_q(-2), b"/nope\0", b"\1\0\0\0", b"\0" * 4, b"\0" * 4, b"\0" * 8])
        assert compile_filter(parse("evt.rawarg.fd = -2"))(v)
        assert compile_filter(parse("evt.rawarg.flags = 1"))(v)
        assert compile_filter(parse("evt.rawarg.name startswith /no"))(v)
        assert not compile_filter(parse("evt.rawarg.fd > 0"))(v)


class TestAbspath:
    """evt.abspath joins the path argument to the cwd, the dirfd's name, or nothing."""

    def test_openat(self):
        from falcolib.decode.table import EVENTS
        from falcolib.state import State
        code = next(e.code for e in EVENTS if e.enum == "PPME_SYSCALL_OPENAT_2_X")
        u32, u64 = struct.pack("<I", 1), struct.pack("<Q", 0)
        state = State(None)

        def openat(dirfd, name):
            raw = build_raw(code, [_q(3), _q(dirfd), name, u32, u32, u32, u64])
            return resolve("evt.abspath")(state.process(Event(raw)))
        assert openat(7, b"/a/./b/../c\0") == "/a/c"          # absolute: normalized
        assert openat(-100, b"x/y\0").endswith("x/y")         # AT_FDCWD: the cwd
        assert openat(99, b"z\0") == "<UNKNOWN>/z"           # unknown dirfd
