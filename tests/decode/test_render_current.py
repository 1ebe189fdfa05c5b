"""Arguments as current libs print them (``current=True``, a live run) against sysdig 0.29's
rendering (replays): tables, layouts, empties, and the switch the state's ``live`` sets."""
from __future__ import annotations

import struct
import time

import pytest

from falcolib.decode import Event
from falcolib.decode._data import FLAG_TABLES, SYSDIG_FLAG_TABLES
from falcolib.decode.args import render_arg, render_rawarg
from falcolib.decode.flags import current_flags_text, flags_text
from falcolib.decode.render import param_text, render_args
from falcolib.decode.table import EVENTS, SYSDIG_EVENTS, types_named
from falcolib.scap.reader import ScapReader
from falcolib.state import State
from falcolib.testing.events import EventBuilder, sockaddr_in
from tests.conftest import CAPTURES

EXECVE_X = next(e.code for e in EVENTS if e.enum == "PPME_SYSCALL_EXECVE_19_X")
SOCKET_X = next(e.code for e in EVENTS if e.enum == "PPME_SOCKET_SOCKET_X")
EXE = dict(FLAG_TABLES["execve_flags"])


def _execve_exit(b: EventBuilder, flags: int, trusted: str = "/usr/bin/true", *, cwd="/"):
    """A version-19 execve exit as the eBPF probe writes it: the current 30 parameters."""
    return b.named("PPME_SYSCALL_EXECVE_19_X", 0, "/usr/bin/true", ["true", "x"], b.tid, b.tid,
                   1, cwd, 1024, 0, 0, 100, 10, 0, "true", [], [], 0, 7, 1000, flags,
                   0, 1, 2, 77, 1_000_000_123, 2_000_000_456, 0, trusted, 9, 0)


def _expected_exe_flags(value: int) -> str:
    return "|".join(n for n, v in FLAG_TABLES["execve_flags"] if v and value & v == v)


class TestFlagTexts:
    """Current tables and libs HEAD's flag algorithm."""

    @pytest.mark.parametrize("value", range(16))
    def test_execve_flags_from_current_table(self, value):
        table = FLAG_TABLES["execve_flags"]
        assert current_flags_text(table, value) == _expected_exe_flags(value)
        # sysdig 0.29's own table knows EXE_WRITABLE only
        assert flags_text(SYSDIG_FLAG_TABLES["execve_flags"], value) == \
            ("EXE_WRITABLE" if value & 1 else "")

    def test_enum_prints_every_name_of_its_value(self):
        table = FLAG_TABLES["socket_families"]
        names = [n for n, v in table if v == 1]
        assert len(names) == 2   # AF_LOCAL and AF_UNIX
        assert current_flags_text(table, 1, exact=True) == "|".join(names)
        assert current_flags_text(table, 10_000, exact=True) == ""

    def test_whole_value_entry_needs_its_bits_left(self):
        """libs HEAD: an entry matches only while all its bits are still unclaimed (sysdig 0.29
        took an entry equal to the whole value regardless)."""
        table = (("A", 1), ("AB", 3), ("C", 4))
        assert current_flags_text(table, 3) == "A"
        assert flags_text(table, 3) == "A|AB"
        assert current_flags_text(table, 0) == flags_text(table, 0) == ""
        assert current_flags_text((("NONE", 0), ("A", 1)), 0) == "NONE"

    def test_caches_keep_algorithms_apart(self):
        table = (("A", 1), ("AB", 3))
        assert flags_text(table, 3) == "A|AB"
        assert current_flags_text(table, 3) == "A"
        assert flags_text(table, 3) == "A|AB"


class TestLayouts:
    """The current layout: every parameter the event carries, named by today's table."""

    def test_execve_exit_memfd(self):
        b = EventBuilder(tid=42)
        value = EXE["EXE_WRITABLE"] | EXE["EXE_FROM_MEMFD"]
        e = Event(_execve_exit(b, value, "/memfd:x (deleted)"))
        cur = render_args(e, None, current=True)
        old = render_args(e, None)
        text = _expected_exe_flags(value)
        assert f" flags={value}({text}) " in cur
        assert old.endswith(f" flags={value}(EXE_WRITABLE) ")   # sysdig: 20 params, trailing space
        assert not cur.endswith(" ")
        names = [p.name for p in EVENTS[EXECVE_X].params[:e.nparams]]
        pos = [cur.index(f" {n}=") if i else cur.index(f"{n}=") for i, n in enumerate(names)]
        assert pos == sorted(pos)   # every name, in the current table's order
        assert render_arg(e, "flags", None, current=True) == text
        assert render_arg(e, "flags", None) == "EXE_WRITABLE"
        assert render_arg(e, "trusted_exepath", None, current=True) == "/memfd:x (deleted)"
        assert render_arg(e, "trusted_exepath", None) == ""   # beyond sysdig's layout

    def test_names_moved_since_sysdig(self):
        """pgid: index 17 in sysdig's layout (today's vpgid), 28 in the current one."""
        e = Event(_execve_exit(EventBuilder(tid=42), 0))
        assert SYSDIG_EVENTS[EXECVE_X].index("pgid") == 17
        assert EVENTS[EXECVE_X].index("pgid") == 28
        assert render_arg(e, "pgid", None) == "7"
        assert render_arg(e, "pgid", None, current=True) == "9"
        assert render_rawarg(e, "pgid") == 7
        assert render_rawarg(e, "pgid", current=True) == 9
        assert render_arg(e, 30, None, current=True) is None   # the probe writes 30 of 31

    def test_socket_exit_shows_current_params(self):
        b = EventBuilder(tid=42)
        fam = dict(FLAG_TABLES["socket_families"])["AF_PACKET"]
        e = Event(b.named("PPME_SOCKET_SOCKET_X", -1, fam, 3, 768, 0))
        assert e.type == SOCKET_X
        assert render_args(e, None) == "fd=-1(EPERM) "
        zero = current_flags_text(FLAG_TABLES["file_flags"], 0)
        assert render_args(e, None, current=True) == \
            f"fd=-1 domain={fam}(AF_PACKET) type=3 proto=768 flags=0({zero})"

    def test_generic_events(self):
        b = EventBuilder(tid=42)
        enter = Event(b.named("PPME_GENERIC_E", 5, 5))
        leave = Event(b.named("PPME_GENERIC_X", 5, 5))
        assert render_args(enter, None) == render_args(leave, None) == ""
        assert render_args(leave, None, current=True) == ""
        assert render_args(enter, None, current=True).startswith("ID=5(")


class TestEmptiesAndTypes:
    """What libs HEAD prints for empty parameters, buffers, dates and addresses."""

    def test_empty_parameters(self):
        b = EventBuilder(tid=42)
        e = Event(b.named("PPME_SOCKET_CONNECT_X", -111, None, 3, None))
        i = EVENTS[e.type].index("tuple")
        assert param_text(e, i, None, True) == ("NULL", "")
        a = Event(b.named("PPME_SOCKET_SENDTO_X", 0, None, 3, 0, None))
        j = EVENTS[a.type].index("data")
        assert param_text(a, j, None, True) == ("NULL", "")
        x = Event(b.named("PPME_SYSCALL_EXECVE_19_X", 0, None, [], 42, 42, 1, None))
        assert param_text(x, 1, None, True)[0] == "<NA>"
        assert param_text(x, 1, None)[0] == ""

    def test_sockaddr(self):
        b = EventBuilder(tid=42)
        e = Event(b.named("PPME_SOCKET_CONNECT_X", 0, b"\x02short", 3, sockaddr_in("10.0.0.1", 80)))
        assert param_text(e, 3, None, True) == param_text(e, 3, None) == ("10.0.0.1:80", "")
        assert param_text(e, 1, None, True) == param_text(e, 1, None) == ("INVALID IPv4", "")
        none = Event(b.named("PPME_SOCKET_CONNECT_X", 0, None, 3, None))
        assert param_text(none, 3, None, True) == ("<NA>", "")
        assert param_text(none, 3, None) == ("NULL", "")
        unterminated = Event(b.named("PPME_SOCKET_CONNECT_X", 0, None, 3, b"\x01/run/x"))
        assert param_text(unterminated, 3, None, True) == ("INVALID PATH", "")
        unix = Event(b.named("PPME_SOCKET_CONNECT_X", 0, None, 3, b"\x01/run/x\x00"))
        assert param_text(unix, 3, None, True) == ("/run/x", "")

    def test_buffers_are_not_cut(self):
        b = EventBuilder(tid=42)
        data = b"A" * 200
        e = Event(b.named("PPME_SYSCALL_WRITE_X", 200, data, 1, 200))
        i = EVENTS[e.type].index("data")
        assert param_text(e, i, None, True)[0] == "A" * 200
        assert param_text(e, i, None)[0] == "A" * 77 + "..."

    def test_dates(self):
        """A PT_ABSTIME: local time, then the nanoseconds (libs cuts the zone off)."""
        e = Event(_execve_exit(EventBuilder(tid=42), 0))
        i = EVENTS[EXECVE_X].index("exe_ino_ctime")
        local = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1))
        assert param_text(e, i, None, True)[0] == local + ".000000123"
        assert param_text(e, i, None)[0] == ""   # beyond sysdig 0.29's layout


class TestLiveSwitch:
    """The state's ``live`` flag selects the rendering of evt.args / evt.arg / evt.rawarg."""

    @pytest.mark.parametrize("live", [False, True])
    def test_fields_follow_the_state(self, live):
        from falcolib.fields.catalogue import resolve
        state = State(live=live)
        b = EventBuilder(tid=42)
        value = EXE["EXE_WRITABLE"] | EXE["EXE_UPPER_LAYER"]
        state.process(Event(b.named("PPME_SYSCALL_EXECVE_19_E", "/usr/bin/true")))
        view = state.process(Event(_execve_exit(b, value)))
        flags = resolve("evt.arg", "flags")(view)
        args = resolve("evt.args")(view)
        pgid = resolve("evt.rawarg", "pgid")(view)
        if live:
            assert flags == _expected_exe_flags(value)
            assert " trusted_exepath=/usr/bin/true " in args and pgid == 9
        else:
            assert flags == "EXE_WRITABLE"
            assert "trusted_exepath" not in args and pgid == 7


# parameter types whose text libs did not change (given the same table entry and a
# non-empty payload), and which need no state
_UNCHANGED = {"PT_ERRNO", "PT_INT8", "PT_INT16", "PT_INT32", "PT_INT64", "PT_UINT8",
              "PT_UINT16", "PT_UINT32", "PT_UINT64", "PT_SIGTYPE", "PT_RELTIME", "PT_MODE",
              "PT_SIGSET", "PT_SOCKTUPLE"}


@pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
def test_real_captures_differ_only_where_libs_changed(cap):
    """Every event of a shared capture renders in current mode; parameters of unchanged
    types and table entries print the same text as sysdig's rendering."""
    same = checked = 0
    execs = types_named("execve")
    for raw in ScapReader(cap).events():
        e = Event(raw)
        t = e.type
        cur = render_args(e, None, current=True)
        if t == 1:
            assert cur == ""
            continue
        if t >= len(SYSDIG_EVENTS):
            continue
        for i, p in enumerate(EVENTS[t].params[:e.nparams]):
            old = SYSDIG_EVENTS[t].params
            if i >= len(old) or old[i] != p or p.type not in _UNCHANGED or not e.param_bytes(i):
                continue
            checked += 1
            same += param_text(e, i, None, True) == param_text(e, i, None)
        if t in execs and e.type % 2 and "flags" in [p.name for p in EVENTS[t].params]:
            v = e.value("flags")
            if v is not None and EVENTS[t].params[EVENTS[t].index("flags")].info == "execve_flags":
                want = _expected_exe_flags(v) or str(v)
                assert render_arg(e, "flags", None, current=True) == want
    assert same == checked
    assert checked > 0


def test_struct_sanity():
    """The helpers above build the layout the probe writes (30 parameters)."""
    e = Event(_execve_exit(EventBuilder(tid=42), 0))
    assert e.nparams == 30 and e.type == EXECVE_X
    assert struct.unpack("<q", e.param_bytes(0))[0] == 0


class _Ctx:
    """A render context knowing thread 42 and user 1000."""

    def fd_label(self, tid, fd):
        return "<f>/etc/passwd" if fd == 3 else None

    def thread_comm(self, tid):
        return "cat" if tid == 42 else None

    def user_name(self, uid):
        return "alice" if uid == 1000 else None


class TestThreadKnowledge:
    """libs HEAD resolves fds, paths and user ids only for a thread it knows."""

    def test_fd(self):
        for tid, want in ((42, ("3", "<f>/etc/passwd")), (43, ("3", ""))):
            e = Event(EventBuilder(tid=tid).named("PPME_SYSCALL_CLOSE_E", 3))
            assert param_text(e, 0, _Ctx(), True) == want
        e = Event(EventBuilder(tid=43).named("PPME_SYSCALL_CLOSE_E", -2))
        assert param_text(e, 0, _Ctx(), True) == ("-2", "")
        assert param_text(e, 0, _Ctx()) == ("-2", "ENOENT")   # sysdig 0.29: no thread needed

    def test_path_without_thread_resolves_to_itself(self):
        e = Event(EventBuilder(tid=43).named("PPME_SYSCALL_EXECVE_19_E", "rel/x"))
        assert param_text(e, 0, _Ctx(), True) == ("rel/x", "rel/x")

    def test_user(self):
        for tid, want in ((42, "alice"), (43, "<NA>")):
            e = Event(_execve_exit(EventBuilder(tid=tid), 0))
            i = EVENTS[EXECVE_X].index("loginuid")
            assert param_text(e, i, _Ctx(), True) == ("1000", want)
