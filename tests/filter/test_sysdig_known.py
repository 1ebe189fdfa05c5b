"""Why falcolib and sysdig 0.29 disagree on the filters listed with ``#!`` in
tests/fixtures/filters/sysdig.txt: one class per listed reason, named in the
table, whose tests show the reason on the real captures. In each case sysdig
0.29 is wrong (a misread file layout, a type confusion, uninitialized memory,
a parser bug); tests/filter/test_vs_sysdig.py checks that the listed filters
still differ on exactly the listed captures.
"""
from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest

from tests.filter.test_vs_sysdig import (
    CAPTURE_DIR, KEY_FORMAT, Known, Replay, known_disagreements, run_sysdig,
)

pytestmark = pytest.mark.oracle


def _cap(name: str) -> Path:
    path = CAPTURE_DIR / name
    if not path.is_file():
        pytest.skip(f"capture {name} not found")
    return path


def _falcolib_selects(capture: Path, flt: str) -> collections.Counter:
    """The key lines of the events falcolib's compiled filter selects (one replay)."""
    from falcolib.filter import compile as compile_filter, parse
    return Replay(capture, {flt: compile_filter(parse(flt))}).selected[flt]


def _falcolib_print(capture: Path, fmt: str) -> list[str]:
    """`falcolib events CAPTURE -p FMT` (the command line sysdig's -p is compared with)."""
    proc = subprocess.run([sys.executable, "-m", "falcolib", "events", str(capture), "-p", fmt],
                          capture_output=True, text=True, errors="surrogateescape", timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _by_evtnum(lines) -> dict[str, list[str]]:
    return {parts[0]: parts[1:] for parts in (line.split() for line in lines)}


def _listed(test: str) -> list[str]:
    """The table's filters listed with reason ``test``."""
    return [f for f, text in known_disagreements().items() if Known(text).test == test]


class TestIpv6LiteralOnIpv4Socket:
    """sysdig 0.29 compares an IPv4 socket's address with the first 4 bytes of an IPv6
    literal (flt_compare PT_IPADDR picks the operand's size, not the literal's), so
    ``fd.ip = "::1"`` matches 0.0.0.0 and ``"7f00:1::"`` matches 127.0.0.1. libs fixed
    it in a8fdacdbb ("solve a bunch of bugs in the filter checks area": a literal of
    the other family never equals); falcolib keeps the families apart."""

    CAPTURE = "connect_localhost.scap"

    def test_sysdig_reads_the_v6_literal_as_a_v4_address(self, sysdig):
        cap = _cap(self.CAPTURE)
        zero = run_sysdig(sysdig, cap, "fd.ip = 0.0.0.0")
        loopback = run_sysdig(sysdig, cap, "fd.ip = 127.0.0.1")
        assert zero and loopback
        assert run_sysdig(sysdig, cap, 'fd.ip = "::1"') == zero            # 00 00 00 00 ...
        assert run_sysdig(sysdig, cap, 'fd.ip = "7f00:1::"') == loopback   # 7f 00 00 01 ...
        assert not run_sysdig(sysdig, cap, 'fd.ip = "1::"')                # 00 01 00 00 ...

    def test_falcolib_agrees_on_the_v4_addresses_and_keeps_families_apart(self, sysdig):
        cap = _cap(self.CAPTURE)
        for flt in ("fd.ip = 0.0.0.0", "fd.ip = 127.0.0.1"):
            assert _falcolib_selects(cap, flt) == run_sysdig(sysdig, cap, flt)
        assert not _falcolib_selects(cap, 'fd.ip = "::1"')
        assert not _falcolib_selects(cap, 'fd.ip = "7f00:1::"')


class TestTtyNotInSysdigProcessList:
    """sample.scap (written by libs >= 0.10) stores each process's tty in its process
    list; sysdig 0.29's reader has no such field (scap_savefile.c sets tinfo.tty = 0),
    so its proc.tty is 0 for every process the capture only knows from that list. It
    only learns a tty from execve events, which sample.scap has none of."""

    def test_the_process_list_holds_real_terminals(self):
        """The ttys read are terminal devices: the `sudo sysdig -w` that wrote the capture
        and its session on /dev/pts/1 (136, 1), agetty on /dev/tty1 (4, 1), nothing else."""
        from falcolib.scap.reader import ScapReader
        procs = ScapReader(_cap("sample.scap")).snapshot().processes
        ttys = {p.comm: p.tty for p in procs if p.tty}
        assert ttys["sysdig"] == (136 << 8 | 1) and ttys["agetty"] == (4 << 8 | 1)
        assert all(tty >> 8 in (4, 136) for tty in ttys.values()), ttys
        assert all(p.loginuid == 1000 for p in procs if p.tty >> 8 == 136)  # the user's session

    def test_sysdig_shows_only_zero_there_but_reads_ttys_from_events(self, sysdig):
        fmt = "%thread.tid %proc.name %proc.tty"
        shown = run_sysdig(sysdig, _cap("sample.scap"), None, fmt)
        assert shown and {line.split()[-1] for line in shown} == {"0"}
        ours = {line.split()[-1] for line in _falcolib_print(_cap("sample.scap"), fmt)}
        assert "34817" in ours   # /dev/pts/1
        # from execve exits sysdig does show a tty (psp_run_as_user_0_container.scap)
        from_events = run_sysdig(sysdig, _cap("psp_run_as_user_0_container.scap"),
                                 "proc.tty != 0", "%proc.tty")
        assert set(from_events) == {"34816"}


class TestNewerProcessListLayout:
    """sysdig 0.29 misreads sample.scap's newer process-list entries (libs >= 0.10 put
    pidns_init_start_ts and tty before loginuid): it takes the low half of
    pidns_init_start_ts as the loginuid and a byte of it as exe_writable (see
    tests/scap/test_writer.py::TestRoundTrip::test_loginuid_libs_010_layout). Given the
    same processes in the layout it knows (our scap writer's copy), sysdig selects
    exactly what falcolib selects on the original for every filter listed here."""

    def test_sysdig_agrees_on_a_copy_it_reads_right(self, sysdig, tmp_path):
        from falcolib.filter import compile as compile_filter, parse
        from falcolib.scap.writer import copy_capture
        cap = _cap("sample.scap")
        copy = tmp_path / cap.name
        copy_capture(cap, copy)
        listed = _listed(type(self).__name__)
        assert listed
        replay = Replay(cap, {f: compile_filter(parse(f)) for f in listed})
        shown = run_sysdig(sysdig, copy, None)
        for flt in listed:
            ours = collections.Counter({k: n for k, n in replay.selected[flt].items() if k in shown})
            assert ours == run_sysdig(sysdig, copy, flt), flt
            assert ours != run_sysdig(sysdig, cap, flt), flt   # the original is misread


class TestGroupGidReads64Bits:
    """sysdig 0.29 declares group.gid PT_UINT64 but extracts the 32-bit m_gid, so it
    reads the next 4 bytes of the thread info too (the low half of m_nchilds): the
    printed gid is gid + (proc.nchilds << 32). libs 5e72ce2ed ("consistent 32 bit
    group IDs") made it 32-bit."""

    @pytest.mark.parametrize("name", ["sample.scap", "psp_run_as_user_0_container.scap"])
    def test_upper_half_is_the_child_count(self, sysdig, name):
        cap = _cap(name)
        shown = run_sysdig(sysdig, cap, None, "%evt.num %group.gid %proc.nchilds")
        ours = _by_evtnum(_falcolib_print(cap, "%evt.num %group.gid"))
        high = 0
        for line in shown:
            num, gid, nchilds = line.split()
            assert int(gid) >> 32 == int(nchilds), line
            assert [str(int(gid) & 0xFFFFFFFF)] == ours[num], line
            high += int(gid) >> 32 != 0
        assert high   # the events the listed filters disagree on


class TestFdDevUninitialized:
    """sysdig 0.29 never sets fd.dev for fds that are not files (sinsp_fdinfo's
    constructor and reset() leave m_dev uninitialized; only file fds get a device), so
    sockets, pipes, eventfds... print leftover heap bytes that change from run to run.
    falcolib gives 0 for them."""

    def test_sysdig_prints_different_devices_each_run(self, sysdig):
        cap = _cap("connect_localhost.scap")
        fmt = "%evt.num %fd.type %fd.dev"
        runs = [run_sysdig(sysdig, cap, "fd.type = ipv4", fmt, cache=False) for _ in range(3)]
        assert all(runs) and len({frozenset(r) for r in runs}) > 1
        for line in _falcolib_print(cap, fmt):
            if line.split()[1] == "ipv4":
                assert line.split()[2] == "0", line


class TestDoubleNot:
    """sysdig 0.29's parser ORs a second ``not`` into the pending operator instead of
    negating again (filter.cpp compile_: ``m_last_boolop | BO_NOT``), so ``not not X``
    selects what ``not X`` does; falcolib selects what ``X`` does."""

    def test_not_not_is_not_in_sysdig(self, sysdig, captures):
        for cap in captures:
            shown = run_sysdig(sysdig, cap, None)
            if not shown:
                continue
            plain = run_sysdig(sysdig, cap, "evt.type = close")
            negated = run_sysdig(sysdig, cap, "not evt.type = close")
            assert run_sysdig(sysdig, cap, "not not evt.type = close") == negated, cap.name
            ours = _falcolib_selects(cap, "not not evt.type = close")
            assert collections.Counter({k: n for k, n in ours.items() if k in shown}) == plain
