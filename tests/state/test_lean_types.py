"""Lean state: delivering only the event types the used fields need prints what the full state prints.

Each case is run over every shared capture twice, as ``falcolib events FILE FILTER -p
FORMAT`` runs it (scap backend skipping types by header, ``shown_views``, the format's
line function): once with every state type (``wanted_types(evttypes)``), once lean
(``wanted_types(evttypes, fields=used)``); both in sysdig's filter order and in Falco's
(every event parsed before the filter). The oracle class checks the lean run against
sysdig 0.29 itself.
"""
from __future__ import annotations

import subprocess

import pytest

from falcolib.engine import needs_state, shown_views, wanted_types
from falcolib.fields import all_fields, lookup
from falcolib.filter import compile as compile_condition, parse
from falcolib.outputs.format import Formatter
from falcolib.state import State, needed_types
from falcolib.state import wanted_types as state_wanted_types
from falcolib.state.groups import (
    EVERY_EVENT, EVERYTHING, FD, FIELD_GROUPS, IO, MEM, THREAD, canonical, group_types,
    groups_for, needs_every_event, type_groups,
)
from falcolib_scap import ScapBackend
from tests.conftest import CAPTURES

CASES = {
    "execve-proc": ("evt.type=execve and evt.dir=<",
                    "*%evt.num %proc.name %proc.pname %proc.aname[2] %proc.cmdline %proc.pid "
                    "%proc.ppid %user.name %container.id %proc.sid %proc.vpgid %proc.tty"),
    "proc-names": ("evt.type in (open, openat, read, write) and proc.name in (cat, curl, bash, sshd, ping)",
                   "*%evt.num"),
    "ancestors": ("evt.type in (open, openat, execve) and (proc.aname[2]=sshd or "
                  "proc.aname[3]=systemd or proc.pname=bash)",
                  "*%evt.num %proc.aname[1] %proc.aname[3] %proc.apid[2] %proc.aexe[1] %proc.loginshellid"),
    "open-fd": ("evt.type in (open, openat, openat2, creat) and evt.dir=<",
                "*%evt.num %fd.name %fd.num %fd.type %fd.typechar %fd.directory %fd.filename "
                "%fd.nameraw %fd.ino %proc.name"),
    "open-etc": ("evt.type in (open, openat) and evt.dir=< and fd.name startswith /etc", "*%evt.num"),
    "rw-fd": ("evt.type in (read, write, readv, writev, pread, pwrite)",
              "*%evt.num %fd.name %fd.num %fd.sip %fd.sport %fd.cip %fd.cport %fd.typechar %fd.l4proto"),
    "sock-data": ("evt.type in (sendto, sendmsg, recvfrom, recvmsg, send, recv)",
                  "*%evt.num %fd.name %fd.sip %fd.sport %fd.cip %fd.cport %fd.l4proto %fd.connected "
                  "%fd.is_server %fd.name_changed %fd.lip %fd.rip"),
    "sock-make": ("evt.type in (socket, connect, accept, accept4, bind, listen, shutdown)",
                  "*%evt.num %fd.name %fd.sip %fd.sport %fd.cip %fd.cport %fd.connected %fd.is_server"),
    "close": ("evt.type in (close, dup, dup2, dup3, fcntl, fstat, ioctl)",
              "*%evt.num %fd.name %fd.num %fd.type %proc.fdopencount %fd.connected"),
    "memory": ("evt.type in (execve, clone, open, openat, close)",
               "*%evt.num %proc.vmsize %proc.vmrss %proc.vmswap %thread.pfmajor %thread.pfminor "
               "%thread.vmsize %thread.vmrss.b"),
    "switch": ("evt.type=switch", "*%evt.num %thread.exectime %thread.totexectime %proc.name"),
    "lookup-only": ("evt.type in (switch, procinfo, page_fault) or (evt.type=openat and evt.dir=<)",
                    "*%evt.num %evt.type %proc.pid %proc.name %proc.ppid %proc.nthreads %proc.pname"),
    "args": ("evt.type in (open, openat, close, read, write, fstat, connect, sendto, socket, mmap)",
             "*%evt.num %evt.args"),
    "default-line": ("evt.type in (openat, connect, execve, clone, close, write)", None),
    "cwd-exe": ("evt.type in (open, openat, execve, chdir, fchdir, getcwd, stat, unlinkat)",
                "*%evt.num %proc.cwd %proc.exepath %proc.pexepath %proc.aexepath[2] "
                "%fs.path.name %evt.abspath %proc.env"),
    "threads": ("evt.type in (execve, clone, fork, vfork, procexit, open, openat)",
                "*%evt.num %proc.name %proc.nchilds %proc.nthreads %thread.ismain %thread.vtid "
                "%proc.vpid %proc.sname %proc.vpgid.name %proc.duration %group.name"),
    "container": ("evt.type in (openat, execve, container)",
                  "*%evt.num %container.id %container.name %container.image %container.type %container.privileged "
                  "%fd.name"),
    "fd-filter": ("evt.type in (open, openat, read, write, close) and fd.name exists and "
                  "not fd.directory in (/proc, /sys)", "*%evt.num %fd.name"),
    "net-filter": ("evt.type in (connect, sendto, sendmsg, write, read) and fd.sport > 0",
                   "*%evt.num %fd.sip %fd.sport %fd.l4proto"),
    "poll": ("evt.type in (poll, ppoll, select, epoll_wait)",
             "*%evt.num %fdlist.names %fdlist.sips %fdlist.cports"),
    "io-counts": ("evt.type in (read, write, open, openat) and evt.dir=<",
                  "*%evt.num %evt.category %evt.buflen %evt.count.error.file %evt.is_syslog"),
    "caps-limits": ("evt.type in (execve, capset, prlimit, setrlimit, setuid, setgid, openat)",
                    "*%evt.num %thread.cap_effective %proc.fdlimit %user.uid %proc.fdusage"),
    "cpu-time": ("evt.type in (open, openat, execve, read)",
                 "*%evt.num %thread.totexectime %thread.exectime %proc.name"),
    "latency": ("evt.type in (read, write) and evt.dir=<", "*%evt.num %evt.latency %evt.reltime"),
}


def _lines(path, flt, fmt_text, *, lean: bool, sysdig_order: bool,
           skip_filter_first: bool = False, every: bool = False) -> list[str]:
    """What ``falcolib events path flt -p fmt`` prints, with the full or the lean state;
    ``skip_filter_first``: also without the state types whose parser sysdig runs only
    on events passing the filter (none of which the filter's types hold); ``every``:
    reading every event (the reference for fields that need every event)."""
    matcher = compile_condition(parse(flt, file="<filter>"))
    # None: sysdig's default line (falcolib.cli.events.DEFAULT_FORMAT)
    fmt = Formatter(fmt_text or "*%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) "
                                "%evt.dir %evt.type %evt.info")
    used = set(fmt.field_names) | matcher.fields
    assert needs_state(used)
    types = wanted_types(matcher.evttypes, fields=used if lean else None,
                         sysdig_order=skip_filter_first)
    if every:
        types = None
    render = fmt.line_function()
    with ScapBackend(str(path), types=types) as backend:
        state = State(backend.snapshot(), sysdig_filter_order=sysdig_order)
        out = []
        for view in shown_views(iter(backend), state=state, matcher=matcher):
            line = render(view)
            if line is not None:
                out.append(line)
    return out


def _every(flt, fmt) -> bool:
    """Whether the case's fields need every event (then the reference reads them all)."""
    f = Formatter(fmt or "%evt.num")
    used = set(f.field_names) | compile_condition(parse(flt, file="<filter>")).fields
    return needs_every_event(canonical(used))


@pytest.mark.parametrize("case", sorted(CASES))
class TestLeanEqualsFull:
    """Every capture, every case: the lean state prints exactly what the full state prints."""

    @pytest.mark.parametrize("sysdig_order", [True, False], ids=["sysdig-order", "falco-order"])
    def test_same_lines(self, case, sysdig_order):
        """Line for line, in both filter orders."""
        flt, fmt = CASES[case]
        every = _every(flt, fmt)
        printed = 0
        for path in CAPTURES:
            full = _lines(path, flt, fmt, lean=False, sysdig_order=sysdig_order, every=every)
            lean = _lines(path, flt, fmt, lean=True, sysdig_order=sysdig_order)
            assert lean == full, f"{path.name}: lean differs from full"
            printed += len(full)
        assert printed or case in ("switch", "poll", "caps-limits"), "case prints nothing anywhere"


    def test_with_filter_first_types_skipped(self, case):
        """sysdig order, lean and without the types whose parser runs only on passing
        events: still what the plain full run prints."""
        flt, fmt = CASES[case]
        every = _every(flt, fmt)
        for path in CAPTURES:
            full = _lines(path, flt, fmt, lean=False, sysdig_order=True, every=every)
            both = _lines(path, flt, fmt, lean=True, sysdig_order=True, skip_filter_first=True)
            assert both == full, f"{path.name}: lean without filter-first types differs"


class TestLeanIsSmaller:
    """The lean sets are what the fields need, and smaller than the full one."""

    def test_proc_only_gets_thread_group(self):
        """A proc.* consumer gets the thread table's events only: no switch, read, mmap or open."""
        types = state_wanted_types(fields=frozenset({"proc.name", "proc.aname"}))
        assert types == group_types(frozenset({THREAD}))
        names = {lookup_enum(c) for c in types}
        assert "PPME_SYSCALL_EXECVE_19_X" in names and "PPME_SYSCALL_CLONE_20_X" in names
        assert not names & {"PPME_SCHEDSWITCH_6_E", "PPME_SYSCALL_READ_X", "PPME_SYSCALL_MMAP_X",
                            "PPME_SYSCALL_OPENAT_2_X"}

    def test_fd_name_skips_switch_and_io(self):
        """fd.name needs opens, closes and sockets, not switch, mmap or plain read/write."""
        names = {lookup_enum(c) for c in state_wanted_types(fields=frozenset({"fd.name"}))}
        assert {"PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_CLOSE_X",
                "PPME_SOCKET_CONNECT_X", "PPME_SOCKET_SENDTO_X"} <= names
        assert not names & {"PPME_SCHEDSWITCH_6_E", "PPME_SYSCALL_READ_X", "PPME_SYSCALL_WRITE_E",
                            "PPME_SYSCALL_MMAP_X"}

    def test_connected_and_memory(self):
        """fd.connected brings the address-less reads/writes; memory fields bring switch and mmap."""
        io = {lookup_enum(c) for c in state_wanted_types(fields=frozenset({"fd.connected"}))}
        assert {"PPME_SYSCALL_READ_X", "PPME_SYSCALL_READ_E", "PPME_SYSCALL_WRITE_X"} <= io
        mem = {lookup_enum(c) for c in state_wanted_types(fields=frozenset({"proc.vmrss"}))}
        assert {"PPME_SCHEDSWITCH_6_E", "PPME_SYSCALL_MMAP_X", "PPME_SYSCALL_BRK_4_X"} <= mem
        assert "PPME_SYSCALL_READ_X" not in mem and "PPME_SYSCALL_OPEN_X" not in mem

    def test_full_set_unchanged(self):
        """fields=None and every group together are the state's full set, as before."""
        full = state_wanted_types()
        assert full == group_types(EVERYTHING) == state_wanted_types(fields=None)
        assert state_wanted_types(fields=frozenset({"evt.latency", "proc.name"})) == full
        assert state_wanted_types(fields=frozenset({"no.such.field"})) == full
        assert needed_types(frozenset({"fd.name"})) == state_wanted_types(fields=frozenset({"fd.name"}))
        assert len(state_wanted_types(fields=frozenset({"proc.name"}))) < len(full) // 2

    def test_enterless_lean(self):
        """The live (enterless) variant drops the same enters from the lean set."""
        lean = state_wanted_types(True, frozenset({"fd.name"}))
        assert lean <= state_wanted_types(False, frozenset({"fd.name"}))
        assert lean <= state_wanted_types(True)

    def test_names_as_written(self):
        """engine.wanted_types maps written names (evt.arg.fd, proc.aname) to catalogue names."""
        a = wanted_types(frozenset({3}), fields={"evt.arg.fd", "proc.aname"})
        assert a == frozenset({3}) | state_wanted_types(fields=frozenset({"evt.arg", "proc.aname"}))
        assert wanted_types(None, fields={"proc.name"}) is None


def lookup_enum(code: int) -> str:
    from falcolib.decode.table import EVENTS
    return EVENTS[code].enum


class TestTables:
    """The groups come from the parser tables, and every field is classified."""

    def test_every_field_classified(self):
        """A new field must be placed in falcolib.state.groups (else it gets every group)."""
        missing = sorted(f.name for f in all_fields() if f.name not in FIELD_GROUPS)
        assert missing == []
        stale = sorted(n for n in FIELD_GROUPS if _unknown(n))
        assert stale == []

    def test_every_parsed_type_grouped(self):
        """Each handled or stored event (and its pair's other half) has a group."""
        from falcolib.decode.table import EVENTS
        from falcolib.state.engine import parser_tables
        handlers, stored = parser_tables()
        tg = type_groups()
        for info in EVENTS:
            if info.enum in handlers or info.enum in stored:
                assert tg.get(info.code), info.enum
                if info.code ^ 1 < len(EVENTS):
                    assert tg[info.code ^ 1] >= tg[info.code], info.enum

    def test_field_groups(self):
        """A few fields checked by hand against what their extractors read."""
        assert groups_for({"proc.name", "user.name", "container.id"}) == {THREAD}
        assert groups_for({"fd.name"}) == {THREAD, FD}
        assert groups_for({"fd.connected"}) == {THREAD, FD, IO}
        assert groups_for({"proc.cwd"}) == {THREAD, FD}   # fchdir reads the fd's name
        assert groups_for({"thread.totexectime"}) == {THREAD, MEM}
        assert groups_for({"evt.args"}) == {THREAD, FD}
        assert groups_for({"evt.reltime"}) == EVERYTHING | {EVERY_EVENT}
        assert groups_for({"no.such.field"}) == EVERYTHING | {EVERY_EVENT}
        assert groups_for(None) == EVERYTHING

    def test_every_event_fields_get_all_events(self):
        """evt.reltime, latencies and delta times: the backend delivers every event."""
        for name in ("evt.reltime", "evt.latency", "evt.deltatime", "evt.latency.human",
                     "evt.wait_latency", "no.such.field"):
            assert wanted_types(frozenset({3}), fields={name, "proc.name"}) is None, name
        assert wanted_types(frozenset({3}), fields={"proc.name"}) is not None


def _unknown(name: str) -> bool:
    try:
        return lookup(name).name != name
    except Exception:
        return True


def _sysdig(path, flt, fmt) -> list[str]:
    args = ["sysdig", "-r", str(path), flt] + (["-p", fmt] if fmt else [])
    out = subprocess.run(args, capture_output=True, text=True, errors="surrogateescape",
                         check=True).stdout
    return out.splitlines()


# fields sysdig 0.29 knows (fd.nameraw, fs.path.*, proc.aexepath... are newer)
ORACLE_CASES = {
    "execve-proc": CASES["execve-proc"], "rw-fd": CASES["rw-fd"], "sock-data": CASES["sock-data"],
    "args": CASES["args"], "default-line": CASES["default-line"], "memory": CASES["memory"],
    "fd-filter": CASES["fd-filter"], "proc-names": CASES["proc-names"],
    "open-fd": ("evt.type in (open, openat, creat) and evt.dir=<",
                "*%evt.num %fd.name %fd.num %fd.type %fd.typechar %fd.directory %fd.filename %proc.name"),
    "cwd-exe": ("evt.type in (open, openat, execve, chdir, fchdir, getcwd, stat)",
                "*%evt.num %proc.cwd %proc.exepath %proc.aname[2] %evt.abspath"),
    "latency": CASES["latency"],
    "deltatime": ("evt.type in (open, openat, close) and evt.deltatime > 0",
                  "*%evt.num %evt.deltatime %evt.latency.human"),
}


@pytest.mark.oracle
@pytest.mark.parametrize("case", sorted(ORACLE_CASES))
class TestLeanAgainstSysdig:
    """The lean run prints what sysdig 0.29 prints wherever the full run does."""

    def test_same_as_sysdig(self, sysdig, case):
        """Captures where the full state already differs from sysdig are left out (not ours)."""
        flt, fmt = ORACLE_CASES[case]
        every = _every(flt, fmt)
        compared = 0
        for path in CAPTURES:
            expected = _sysdig(path, flt, fmt)
            if _lines(path, flt, fmt, lean=False, sysdig_order=True, every=every) != expected:
                continue
            assert _lines(path, flt, fmt, lean=True, sysdig_order=True) == expected, path.name
            compared += 1
        assert compared >= len(CAPTURES) // 2


def _synthetic_lines(raws, types, flt, fmt_text) -> list[str]:
    """``_lines`` over built events, the backend's type filter applied by hand."""
    from falcolib.backend.model import StateSnapshot
    matcher = compile_condition(parse(flt, file="<filter>"))
    render = Formatter(fmt_text).line_function()
    state = State(StateSnapshot(), host_tables=False, sysdig_filter_order=True)
    events = [r for r in raws if types is None or r.type in types]
    return [render(v) for v in shown_views(events, state=state, matcher=matcher)]


class TestPlaceholders:
    """A tid the snapshot lacks gets its "<NA>" thread from its first enter or exit."""

    def _events(self):
        from falcolib.testing.events import EventBuilder
        b = EventBuilder(tid=999)
        return [b.named("PPME_SYSCALL_READ_E", 5, 10), b.named("PPME_SYSCALL_READ_X", 3, b"abc"),
                b.named("PPME_SCHEDSWITCH_6_E", 1000, 0, 0, 0, 0, 0)]

    def test_switch_with_thread_fields_reads_everything(self):
        """Thread fields on switch events: the lean set is every event (None), because..."""
        from falcolib.decode.table import types_named
        raws = self._events()
        flt, fmt = "evt.type=switch", "*%evt.num %proc.pid %proc.name"
        matcher = compile_condition(parse(flt, file="<filter>"))
        used = Formatter(fmt).field_names | matcher.fields
        assert wanted_types(matcher.evttypes, fields=used) is None
        full = _synthetic_lines(raws, wanted_types(matcher.evttypes), flt, fmt)
        assert full == ["3 999 <NA>"]
        # ...the thread-table types alone miss the read that made tid 999's placeholder
        thread_only = matcher.evttypes | group_types(frozenset({THREAD}))
        assert types_named("read").isdisjoint(thread_only)
        assert _synthetic_lines(raws, thread_only, flt, fmt) == ["3 <NA> <NA>"]

    def test_event_fields_on_switch_stay_lean(self):
        """Header fields only on switch events: no state at all is needed."""
        from falcolib.decode.table import types_named
        assert wanted_types(types_named("switch"), fields={"evt.num", "thread.tid"}) is not None


def _random_cases(path, rng, n: int):
    """``n`` (filter, format) pairs: 1-4 event types the capture holds, 3-6 fields."""
    from falcolib.decode.table import EVENTS
    from falcolib.fields import ArgKind
    from falcolib.scap.reader import ScapReader
    with ScapReader(str(path)) as r:
        names = sorted({EVENTS[h[6]].name for h in r.headers() if h[6] < len(EVENTS)} - {"NA"})
    fields = sorted(f.name for f in all_fields()
                    if not f.filter_only and f.arg in (ArgKind.NONE, ArgKind.OPT_INDEX,
                                                       ArgKind.OPT_KEY))
    out = []
    while len(out) < n:
        types = rng.sample(names, min(len(names), rng.randint(1, 4)))
        flt = f"evt.type in ({', '.join(types)})"
        picked = rng.sample(fields, rng.randint(3, 6))
        if len(out) % 2:
            # fields tested before the type: extracted on every event the state gets
            flt = f"({picked[0]} exists or not {picked[1]} exists) and {flt}"
        if needs_state(picked):   # else the events CLI runs no state at all
            out.append((flt, "*%evt.num " + " ".join(f"%{f}" for f in picked)))
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
class TestRandomFields:
    """Random field sets over random event types of each capture: lean prints what full prints."""

    def test_random_cases(self, path):
        """Both filter orders, and sysdig order without the filter-first types."""
        import random
        rng = random.Random(f"lean-{path.name}")
        for flt, fmt in _random_cases(path, rng, 16):
            every = _every(flt, fmt)
            for order in (True, False):
                full = _lines(path, flt, fmt, lean=False, sysdig_order=order, every=every)
                lean = _lines(path, flt, fmt, lean=True, sysdig_order=order,
                              skip_filter_first=order)
                assert lean == full, (flt, fmt, order)


class TestLostEnter:
    """The documented approximation: an exit whose enter was lost (drops)."""

    @pytest.mark.xfail(strict=True, reason="an unpaired exit takes the fd of the thread's "
                       "last delivered enter; a lost fstat enter after a read enter the lean "
                       "state did not get shows the older fd (sysdig: the read's)")
    def test_unpaired_exit_after_skipped_enter(self):
        """open fd 3, fstat(3), read(4) enter, fstat exit without its enter: full says fd 4."""
        from falcolib.testing.events import EventBuilder
        b = EventBuilder(tid=1000)
        raws = [b.named("PPME_SYSCALL_OPEN_E", "/a", 0, 0), b.named("PPME_SYSCALL_OPEN_X", 3, "/a", 0, 0),
                b.named("PPME_SYSCALL_FSTAT_E", 3), b.named("PPME_SYSCALL_FSTAT_X", 0, 3),
                b.named("PPME_SYSCALL_READ_E", 4, 10),          # its exit and the next enter lost
                b.named("PPME_SYSCALL_FSTAT_X", 0, 4)]
        flt, fmt = "evt.type=fstat and evt.dir=<", "*%evt.num %fd.num %fd.name"
        matcher = compile_condition(parse(flt, file="<filter>"))
        used = Formatter(fmt).field_names | matcher.fields
        full = _synthetic_lines(raws, wanted_types(matcher.evttypes), flt, fmt)
        assert full == ["4 3 /a", "6 4 "]   # fd 4 never seen opened: no name
        lean = _synthetic_lines(raws, wanted_types(matcher.evttypes, fields=used), flt, fmt)
        assert lean == full
