"""The C loop on socket events (io marking sockets connected, connect/sendto enters,
thread exits, sysdig's filter order, truncated captures) gives exactly what the pure-Python
state gives; helpers from test_speedups."""
from __future__ import annotations

import io
import os
import sys

import pytest

from falcolib.cli import main
from falcolib.testing import Host
from tests.test_speedups import CAPTURES, same_as_reference, with_c


class TestSocketIo:
    """A write on an unconnected socket marks it connected (socket_parsers._rw_exit, run in
    Falco's order by `falcolib run`; in C since it needs no address), so fd.connected is
    right on the next event; a failed write leaves it unconnected."""

    @pytest.mark.parametrize("results, connected", [
        ((4, 4), ["false", "true"]),
        ((-11, 4, 4), ["false", "false", "true"]),     # EAGAIN: not connected yet
    ])
    def test_connected_after_write(self, results, connected, tmp_path, monkeypatch):
        h = Host()
        p = h.process("bash").spawn("app")
        h._emit("PPME_SOCKET_SOCKET_E", p.pid, 2, 2, 0)        # AF_INET, SOCK_DGRAM
        h._emit("PPME_SOCKET_SOCKET_X", p.pid, 5, 2, 2, 0, 0)
        for res in results:
            h._emit("PPME_SYSCALL_FSTAT_E", p.pid, 5)
            h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, 5)
            h._emit("PPME_SYSCALL_WRITE_E", p.pid, 5, 4)
            h._emit("PPME_SYSCALL_WRITE_X", p.pid, res, b"ping", 5, 4)
        cap = tmp_path / "sock.scap"
        h.write(cap)
        rules = tmp_path / "rules.yaml"
        rules.write_text("- rule: stat\n  desc: t\n  condition: evt.type=fstat and evt.dir=<\n"
                         "  output: \"%fd.typechar %fd.connected\"\n  priority: NOTICE\n")
        got = []
        for enabled in (True, False):
            with_c(enabled, monkeypatch)
            raw = io.BytesIO()
            monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
            assert main(["run", "--capture", str(cap), "--rules", str(rules)]) == 0
            got.append([ln.split()[-4:-2] for ln in raw.getvalue().decode().splitlines()])
        assert got[0] == got[1] == [["4", c] for c in connected]


def socket_host() -> Host:
    """connect's and sendto's enters of every kind: an IPv4, IPv6, unix or empty address, a
    short one, an fd never seen; sendto on a known socket and on an unknown fd."""
    from falcolib.testing.events import sockaddr_in, sockaddr_un, socktuple_in, socktuple_un
    h = Host()
    p = h.process("bash").spawn("curl")
    e = h._emit
    pid = p.pid
    cases = [(2, sockaddr_in("203.0.113.9", 443), socktuple_in("10.0.0.2", 40000, "203.0.113.9", 443)),
             (10, sockaddr_in("2001:db8::1", 80), socktuple_in("2001:db8::2", 40001, "2001:db8::1", 80)),
             (10, sockaddr_in("::ffff:192.0.2.7", 22), socktuple_in("::ffff:10.0.0.2", 40002, "::ffff:192.0.2.7", 22)),
             (1, sockaddr_un("/run/x.sock"), socktuple_un(1, 2, "/run/x.sock")),
             (2, b"", b""), (2, b"\x02\x01\x02", b"")]
    for i, (dom, addr, tup) in enumerate(cases):
        fd = 10 + i
        e("PPME_SOCKET_SOCKET_E", pid, dom, 1, 0)
        e("PPME_SOCKET_SOCKET_X", pid, fd, dom, 1, 0, 0)
        e("PPME_SOCKET_CONNECT_E", pid, fd, addr)
        e("PPME_SOCKET_CONNECT_X", pid, 0 if tup else -111, tup, fd, addr)
        e("PPME_SYSCALL_WRITE_E", pid, fd, 4)
        e("PPME_SYSCALL_WRITE_X", pid, 4, b"ping", fd, 4)
    e("PPME_SOCKET_CONNECT_E", pid, 99, sockaddr_in("198.51.100.1", 25))   # fd never seen
    e("PPME_SOCKET_CONNECT_X", pid, 0, socktuple_in("10.0.0.2", 40009, "198.51.100.1", 25), 99,
      sockaddr_in("198.51.100.1", 25))
    e("PPME_SOCKET_SOCKET_E", pid, 2, 2, 0)
    e("PPME_SOCKET_SOCKET_X", pid, 30, 2, 2, 0, 0)
    for fd in (30, 31):                                                  # known, unknown
        tup = socktuple_in("10.0.0.2", 5353, "224.0.0.251", 5353)
        e("PPME_SOCKET_SENDTO_E", pid, fd, 4, tup)
        e("PPME_SOCKET_SENDTO_X", pid, 4, b"ping", fd, 4, tup)
        e("PPME_SYSCALL_WRITE_E", pid, fd, 4)
        e("PPME_SYSCALL_WRITE_X", pid, 4, b"ping", fd, 4)
    return h


NET_RULES = """
- rule: net
  desc: t
  condition: evt.type in (connect, sendto, write) and evt.dir=<
  output: "%fd.num %fd.name %fd.typechar %fd.cip %fd.sip %fd.cport %fd.sport %fd.rip %fd.rport %fd.l4proto %fd.connected"
  priority: NOTICE
"""


class TestSocketEntersInC:
    """connect's enter (an IPv4 destination) and sendto's enter (on a known socket) are
    parsed in C, the other cases in Python: the fds are those of a pure-Python replay."""

    def test_events(self, tmp_path, monkeypatch):
        got = same_as_reference(
            socket_host(), tmp_path, monkeypatch,
            "evt.type in (connect, sendto, write) and evt.dir = <",
            "%evt.num %evt.type %fd.num %fd.name %fd.typechar %fd.cip %fd.sip %fd.sport %fd.rip "
            "%fd.l4proto")
        assert got.count(b"\n") >= 10

    def test_run(self, tmp_path, monkeypatch):
        cap = tmp_path / "net.scap"
        socket_host().write(cap)
        rules = tmp_path / "rules.yaml"
        rules.write_text(NET_RULES)
        got = []
        for enabled in (True, False):
            with_c(enabled, monkeypatch)
            raw = io.BytesIO()
            monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
            assert main(["run", "--capture", str(cap), "--rules", str(rules)]) == 0
            got.append(raw.getvalue())
        assert got[0] == got[1]
        assert b"203.0.113.9" in got[0] and got[0].count(b"\n") > 15


class TestThreadExitInC:
    """A thread's exit is parsed in C (closed, removed when the next event comes): events
    of an exited thread, its children and a reused tid read what Python's replay reads."""

    def test_after_exit(self, tmp_path, monkeypatch):
        h = Host()
        sh = h.process("bash")
        app = sh.spawn("app")
        kid = app.spawn("kid")
        fd = app.open("/etc/passwd")
        for p in (kid, app, sh):
            h._emit("PPME_SYSCALL_FSTAT_E", p.pid, fd)
            h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, fd)
        app.exit()                                   # its child lives on
        for p in (kid, app):
            h._emit("PPME_SYSCALL_FSTAT_E", p.pid, fd)
            h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, fd)
        kid.exit()
        kid.exit()                                   # twice: the second is a placeholder's
        h._emit("PPME_SYSCALL_FSTAT_E", kid.pid, fd)
        h._emit("PPME_SYSCALL_FSTAT_X", kid.pid, 0, fd)
        sh.spawn("again")
        fmt = "*%evt.num %evt.type %thread.tid %proc.name %proc.pname %fd.name"
        got = same_as_reference(h, tmp_path, monkeypatch, "evt.type in (fstat, execve)", fmt)
        # (sysdig 0.29 prints the same 18 lines: app's fstat after its exit is a
        # placeholder's, kid's parent is gone)
        assert got.count(b"\n") == 18 and b"22 fstat 2002 <NA> <NA> <NA>" in got


class TestSocketIoFilterOrder:
    """`falcolib events` parses reads and writes in sysdig's filter order: one the filter
    rejects is never parsed, so its socket stays unconnected, in C as in Python."""

    @pytest.mark.parametrize("condition, shown", [
        ("evt.type = fstat and evt.dir = <", ["false", "false"]),
        ("(evt.type = fstat or evt.type = write) and evt.dir = <",
         ["false", "true", "true", "true"]),
        ("(evt.type = fstat and evt.dir = <) or (evt.type = write and evt.dir = >)",
         ["false", "false", "false", "false"]),     # the enter passes, its exit does not
    ])
    def test_rejected_write_not_parsed(self, condition, shown, tmp_path, monkeypatch):
        h = Host()
        p = h.process("bash").spawn("app")
        h._emit("PPME_SOCKET_SOCKET_E", p.pid, 2, 2, 0)        # AF_INET, SOCK_DGRAM
        h._emit("PPME_SOCKET_SOCKET_X", p.pid, 5, 2, 2, 0, 0)
        for _ in range(2):
            h._emit("PPME_SYSCALL_FSTAT_E", p.pid, 5)
            h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, 5)
            h._emit("PPME_SYSCALL_WRITE_E", p.pid, 5, 4)
            h._emit("PPME_SYSCALL_WRITE_X", p.pid, 4, b"ping", 5, 4)
        got = same_as_reference(h, tmp_path, monkeypatch, condition, "%fd.connected")
        assert got.decode().split() == shown


class TestTruncated:
    """A capture cut short: every line before the cut is printed (C or Python, filter or
    not), then the one-line error, as sysdig prints its lines before giving up."""

    @pytest.mark.parametrize("argv", [["-p", "%evt.num %evt.type %proc.name"],
                                      ["fd.name contains /", "-p", "%evt.num %fd.name"]])
    def test_lines_then_error(self, argv, tmp_path):
        import shutil
        import subprocess
        src = next(c for c in CAPTURES if c.name == "curl_google.scap")
        data = src.read_bytes()
        cut = tmp_path / "cut.scap"
        cut.write_bytes(data[:len(data) * 2 // 3])
        outs = []
        for env in ({}, {"FALCOLIB_PURE": "1"}):
            run = subprocess.run([sys.executable, "-m", "falcolib", "events", str(cut), *argv],
                                 capture_output=True, env={**os.environ, **env}, timeout=120)
            assert run.returncode == 1 and b"byte offset" in run.stderr, run.stderr
            assert run.stderr.count(b"\n") == 1
            outs.append(run.stdout)
        assert outs[0] == outs[1] and outs[0].count(b"\n") > 100
        sysdig = shutil.which("sysdig")
        if sysdig:
            theirs = subprocess.run([sysdig, "-r", str(cut), *argv[:-2], "-p", argv[-1]],
                                    capture_output=True, timeout=120).stdout
            assert outs[0] == theirs
