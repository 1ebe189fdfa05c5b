"""The C loop's exit parsers (pipe, fcntl, rlimit, socket exits, socket io with an address)
give exactly what the pure-Python state gives; helpers from test_speedups."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from falcolib.cli import main
from falcolib.decode.table import types_named
from falcolib.testing import Host
from tests.test_speedups import same_as_reference, with_c


def seen_by_python(monkeypatch) -> list[int]:
    """The types of the events State.process (Python) is handed from now on."""
    from falcolib.state import State
    seen: list[int] = []
    real = State.process

    def counting(self, evt):
        seen.append(evt.type)
        return real(self, evt)
    monkeypatch.setattr(State, "process", counting)
    return seen


def exits_host() -> Host:
    """pipe, getrlimit/setrlimit and fcntl exits of every kind: success, failure, a
    lost enter, a pipe over a known fd and over one being closed, RLIMIT_NOFILE and another
    resource, an unlimited value, a thread (and one whose main thread the state never saw)
    setting its process' limit, F_GETFL and F_DUPFD; each followed by an fstat that shows
    the fd table and the limit."""
    import attrs
    h = Host()
    app = h.process("app")
    e = h._emit
    pid = app.pid
    known = app.open("/etc/passwd")
    main_rec = next(r for r in h._records if r.tid == pid)
    h._records.append(attrs.evolve(main_rec, tid=pid + 50))            # a thread of app
    h._records.append(attrs.evolve(main_rec, tid=pid + 60, pid=pid + 59))   # main unseen
    thread, orphan = pid + 50, pid + 60

    def show(tid=pid, fds=(known, 7, 8, 9, 10, 20)):
        for fd in fds:
            e("PPME_SYSCALL_FSTAT_E", tid, fd)
            e("PPME_SYSCALL_FSTAT_X", tid, 0, fd)

    e("PPME_SYSCALL_PIPE_E", pid)
    e("PPME_SYSCALL_PIPE_X", pid, 0, 7, 8, 4242)
    show()
    e("PPME_SYSCALL_PIPE_E", pid)
    e("PPME_SYSCALL_PIPE_X", pid, -24, 9, 10, 1)                       # failed
    e("PPME_SYSCALL_PIPE_E", pid)
    e("PPME_SYSCALL_PIPE_X", pid, 0, 9, known, 4343)                   # over a known fd
    show()
    e("PPME_SYSCALL_CLOSE_E", pid, 7)                                  # being closed
    e("PPME_SYSCALL_PIPE_E", pid)
    e("PPME_SYSCALL_PIPE_X", pid, 0, 7, 10, 4444)
    e("PPME_SYSCALL_CLOSE_X", pid, 0, 7)
    show()
    for tid, resource, res, cur in [(pid, 7, 0, 4096), (pid, 3, 0, 100), (pid, 7, 0, -1),
                                    (pid, 7, -22, 5), (thread, 7, 0, 2048),
                                    (orphan, 7, 0, 512)]:
        kind = "SETRLIMIT" if tid == thread else "GETRLIMIT"
        e(f"PPME_SYSCALL_{kind}_E", tid, resource)
        e(f"PPME_SYSCALL_{kind}_X", tid, res, cur, cur, resource)
        show(tid, fds=(known,))
    e("PPME_SYSCALL_GETRLIMIT_X", pid, 0, 999, 999, 7)                 # its enter lost
    show(fds=(known,))
    for cmd, res in [(3, 0), (1, 20), (1, -9), (26, 21)]:             # F_GETFL, F_DUPFD(_CLOEXEC)
        e("PPME_SYSCALL_FCNTL_E", pid, known, cmd)
        e("PPME_SYSCALL_FCNTL_X", pid, res, known, cmd, 0)
        show(fds=(known, 20, 21))
    e("PPME_SYSCALL_FCNTL_X", pid, 22, known, 1, 0)                    # its enter lost
    e("PPME_SYSCALL_FCNTL_E", pid, 99, 1)                              # an fd never seen
    e("PPME_SYSCALL_FCNTL_X", pid, 23, 99, 1, 0)
    show(fds=(known, 22, 23))
    return h


class TestOtherExitsInC:
    """pipe, rlimit and fcntl exits parsed in C (F_DUPFD, an unseen main thread and a pipe
    over a closing fd in Python): the fd tables and limits are those of a pure replay."""

    FMT = "*%evt.num %thread.tid %fd.num %fd.name %fd.typechar %fd.ino %proc.fdlimit"

    def test_events(self, tmp_path, monkeypatch):
        """`events` (sysdig's filter order: a rejected rlimit exit is never parsed)."""
        got = same_as_reference(exits_host(), tmp_path, monkeypatch,
                                "evt.type = fstat and evt.dir = <", self.FMT)
        lines = got.decode().splitlines()
        assert len(lines) >= 40
        assert any(ln.endswith(" 7  p 4242 1024") for ln in lines)    # the pipe's fds

    def run(self, tmp_path, monkeypatch, enabled: bool) -> bytes:
        cap = tmp_path / "exits.scap"
        exits_host().write(cap)
        rules = tmp_path / "rules.yaml"
        rules.write_text("- rule: stat\n  desc: t\n  condition: evt.type=fstat and evt.dir=<\n"
                         f"  output: \"{self.FMT[1:]}\"\n  priority: NOTICE\n")
        with_c(enabled, monkeypatch)
        raw = io.BytesIO()
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
        assert main(["run", "--capture", str(cap), "--rules", str(rules)]) == 0
        return raw.getvalue()

    def test_run(self, tmp_path, monkeypatch):
        """`falcolib run`: every exit parsed, C as pure Python (limits set by the
        process and by its thread)."""
        got = [self.run(tmp_path, monkeypatch, enabled) for enabled in (True, False)]
        assert got[0] == got[1] and got[0].count(b"\n") >= 40
        assert b" 4096 container_id" in got[0] and b" 2048 container_id" in got[0]

    def test_c_parses_them(self, tmp_path, monkeypatch):
        """The exits C takes are kept from Python: only the declined ones reach it."""
        seen = seen_by_python(monkeypatch)
        self.run(tmp_path, monkeypatch, True)
        exits = lambda *names: sum(1 for t in seen if t % 2 and any(   # noqa: E731
            t in types_named(n) for n in names))
        assert exits("pipe") == 1                   # over the fd being closed
        assert exits("fcntl") == 2                  # F_DUPFD(_CLOEXEC) on the known fd
        assert exits("getrlimit", "setrlimit") == 1     # the thread of an unseen process
        assert exits("fstat") >= 40


def socket_exits_host() -> Host:
    """socket exits of every domain, type and protocol add_socket distinguishes (AF_UNIX,
    AF_INET/AF_INET6 over TCP, UDP, ICMP, raw and IP, AF_NETLINK, a domain it ignores),
    in the old layout (fd only) and the new one (domain, type, proto, flags); a failed
    one, a lost enter, one reusing a known fd and one reusing an fd being closed; by curl
    and by nc; each followed by an fstat on the fd."""
    h = Host()
    curl, nc = h.process("curl"), h.process("nc")
    known = curl.open("/etc/hosts")
    e = h._emit
    fd = 10
    cases = [(1, 1, 0), (2, 1, 0), (2, 2, 0), (2, 3, 0), (2, 1, 6), (2, 3, 6), (2, 2, 17),
             (2, 3, 17), (2, 2, 1), (2, 3, 1), (2, 3, 255), (2, 5, 0), (2, 0x80001, 0),
             (10, 1, 6), (10, 2, 0), (16, 3, 0), (17, 3, 768)]
    for new_layout in (False, True):
        for dom, stype, proto in cases:
            fd += 1
            e("PPME_SOCKET_SOCKET_E", curl.pid, dom, stype, proto)
            e("PPME_SOCKET_SOCKET_X", curl.pid, fd, *((dom, stype, proto, 0) if new_layout
                                                     else ()))
            e("PPME_SYSCALL_FSTAT_E", curl.pid, fd)
            e("PPME_SYSCALL_FSTAT_X", curl.pid, 0, fd)
    for p, fd, layout in [(nc, 60, ()), (nc, 61, (2, 1, 0, 0)), (curl, -97, ()),
                          (curl, known, ())]:
        e("PPME_SOCKET_SOCKET_E", p.pid, 2, 1, 0)
        e("PPME_SOCKET_SOCKET_X", p.pid, fd, *layout)
        e("PPME_SYSCALL_FSTAT_E", p.pid, fd)
        e("PPME_SYSCALL_FSTAT_X", p.pid, 0, fd)
    e("PPME_SOCKET_SOCKET_X", curl.pid, 62)                            # its enter lost
    e("PPME_SYSCALL_CLOSE_E", curl.pid, 11)                            # being closed
    e("PPME_SOCKET_SOCKET_E", curl.pid, 2, 2, 0)
    e("PPME_SOCKET_SOCKET_X", curl.pid, 11)
    e("PPME_SYSCALL_CLOSE_X", curl.pid, 0, 11)
    for fd in (11, 62):
        e("PPME_SYSCALL_FSTAT_E", curl.pid, fd)
        e("PPME_SYSCALL_FSTAT_X", curl.pid, 0, fd)
    return h


SOCKET_RULES = """
- rule: packet
  desc: the official rule's test of the domain (none on the old layout)
  condition: evt.type=socket and evt.dir=< and evt.arg.domain contains AF_PACKET
  output: "packet %proc.name %fd.num"
  priority: NOTICE
- rule: inet by curl
  desc: t
  condition: evt.type=socket and evt.dir=< and evt.arg.domain contains AF_INET and proc.name=curl
  output: "inet %proc.name %fd.num %fd.typechar"
  priority: NOTICE
- rule: old layout by nc
  desc: t
  condition: evt.type=socket and evt.dir=< and proc.name=nc and not evt.rawarg.proto exists
  output: "old %proc.name %fd.num"
  priority: NOTICE
- rule: stat
  desc: t
  condition: evt.type=fstat and evt.dir=<
  output: "stat %fd.num %fd.name %fd.typechar %fd.type %fd.l4proto %fd.sip %fd.cip %fd.connected"
  priority: NOTICE
"""


class TestSocketExitsInC:
    """socket exits parsed in C (socket_parsers.parse_socket_exit) and their rules decided
    there (evt.arg.NAME has no value on an exit without that parameter): the fds and
    alerts of a pure-Python replay; only exits a rule may match, and a reuse of an fd
    being closed, reach Python."""

    def run(self, tmp_path, monkeypatch, enabled: bool, rules_text: str = SOCKET_RULES):
        cap = tmp_path / "sockets.scap"
        socket_exits_host().write(cap)
        rules = tmp_path / "rules.yaml"
        rules.write_text(rules_text)
        with_c(enabled, monkeypatch)
        raw = io.BytesIO()
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
        assert main(["run", "--capture", str(cap), "--rules", str(rules),
                     "--set", "rule_matching=all"]) == 0
        return raw.getvalue()

    def test_same_alerts(self, tmp_path, monkeypatch):
        got = [self.run(tmp_path, monkeypatch, enabled) for enabled in (True, False)]
        assert got[0] == got[1]
        text = got[0].decode()
        assert text.count(": Notice stat ") == 40
        assert text.count(": Notice inet curl ") == 14       # the new layout's AF_INET(6)
        assert text.count(": Notice old nc ") == 1
        assert text.count(": Notice packet ") == 1     # AF_PACKET (17), new layout
        assert ": Notice stat 15  4 ipv4 <NA> <NA> <NA> false" in text

    def test_official_rules(self, tmp_path, monkeypatch):
        """With the official rules' own socket rule too: the same alerts."""
        official = Path(__file__).resolve().parents[1] / ".." / "shared" / "rules"
        text = (official / "falco_rules.yaml").read_text() + SOCKET_RULES
        got = [self.run(tmp_path, monkeypatch, enabled, text) for enabled in (True, False)]
        assert got[0] == got[1] and got[0].count(b"\n") >= 55

    def test_kept_from_python(self, tmp_path, monkeypatch):
        seen = seen_by_python(monkeypatch)
        self.run(tmp_path, monkeypatch, True)
        exits = sum(1 for t in seen if t in types_named("socket") and t % 2)
        # the new layout's 18 (a rule tests their domain: C cannot), nc's old one (not
        # evt.rawarg.proto exists: TRUE) and the reuse of the fd being closed; not the
        # 17 old-layout exits by curl, the failed one, the lost enter, the reused fd
        assert exits == 20



def socket_io_host() -> Host:
    """recvfrom/recvmsg/sendto/sendmsg with an address on: a connected IPv4 TCP socket (C),
    an unconnected IPv4 TCP one (no name: Python names it), IPv4 and IPv6 UDP, a unix
    socket, a file, an fd never seen; successful and failed calls."""
    from falcolib.testing.events import socktuple_in, socktuple_un
    h = Host()
    p = h.process("curl")
    e = h._emit
    pid = p.pid
    tcp = p.connect("203.0.113.9", 443)
    fds = {"tcp": tcp, "file": p.open("/etc/hosts")}
    for name, dom, stype, fd in [("tcp unnamed", 2, 1, 40), ("udp", 2, 2, 41), ("udp6", 10, 2, 42),
                                 ("unix", 1, 1, 43)]:
        e("PPME_SOCKET_SOCKET_E", pid, dom, stype, 0)
        e("PPME_SOCKET_SOCKET_X", pid, fd)
        fds[name] = fd
    fds["unseen"] = 77
    v4 = socktuple_in("10.0.0.2", 5353, "198.51.100.7", 53)
    v6 = socktuple_in("2001:db8::2", 5353, "2001:db8::53", 53)
    un = socktuple_un(1, 2, "/run/x.sock")
    for name, fd in fds.items():
        tup = v6 if name == "udp6" else un if name == "unix" else v4
        for res in (-11, 5):
            e("PPME_SOCKET_SENDTO_E", pid, fd, 5, tup)
            e("PPME_SOCKET_SENDTO_X", pid, res, b"hello", fd, 5, tup)
            e("PPME_SOCKET_RECVFROM_E", pid, fd, 5)
            e("PPME_SOCKET_RECVFROM_X", pid, res, b"hello", tup, fd, 5)
            e("PPME_SOCKET_SENDMSG_E", pid, fd, 5, tup)
            e("PPME_SOCKET_SENDMSG_X", pid, res, b"hello", fd, 5, tup)
            e("PPME_SOCKET_RECVMSG_E", pid, fd)
            e("PPME_SOCKET_RECVMSG_X", pid, res, 5, b"hello", tup, b"", fd)
            e("PPME_SYSCALL_FSTAT_E", pid, fd)
            e("PPME_SYSCALL_FSTAT_X", pid, 0, fd)
    return h


class TestSocketIoWithAddressInC:
    """recvfrom/recvmsg/sendto/sendmsg exits on a named IPv4 TCP socket, or failed, parsed
    in C (3's work); the others (naming an unconnected socket) Python's: fds as a pure
    replay's, and C took the calls it should."""

    FMT = "*%evt.num %fd.num %fd.name %fd.typechar %fd.l4proto %fd.sip %fd.cport %fd.connected"

    def test_events(self, tmp_path, monkeypatch):
        got = same_as_reference(socket_io_host(), tmp_path, monkeypatch,
                                "evt.type = fstat and evt.dir = <", self.FMT)
        assert got.count(b"\n") == 14 and b"203.0.113.9:443" in got

    def test_run(self, tmp_path, monkeypatch):
        cap = tmp_path / "io.scap"
        socket_io_host().write(cap)
        rules = tmp_path / "rules.yaml"
        rules.write_text("- rule: stat\n  desc: t\n  condition: evt.type=fstat and evt.dir=<\n"
                         f"  output: \"{self.FMT[1:]}\"\n  priority: NOTICE\n")
        got = []
        seen = seen_by_python(monkeypatch)
        for enabled in (True, False):
            seen.clear()
            with_c(enabled, monkeypatch)
            raw = io.BytesIO()
            monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, write_through=True))
            assert main(["run", "--capture", str(cap), "--rules", str(rules)]) == 0
            got.append(raw.getvalue())
            if enabled:
                io_exits = sum(1 for t in seen if t % 2 and any(
                    t in types_named(n) for n in ("sendto", "recvfrom", "sendmsg", "recvmsg")))
        assert got[0] == got[1] and got[0].count(b"\n") == 14
        # Python: the successful calls on the UDP, UDP6 and unix sockets, on the file and
        # on the fd never seen (sendto's enter made it a UDP socket): 4 each, and the
        # first on the unnamed TCP socket (which names it); C: the failed calls, the
        # named TCP socket's
        assert io_exits == 5 * 4 + 1


@pytest.mark.parametrize("host", [socket_exits_host, exits_host, socket_io_host],
                         ids=lambda f: f.__name__)
def test_tables_after_exits_in_c(host, tmp_path, monkeypatch):
    """Every fd (all its attributes: l4proto, addresses, inode...) and every thread's fd
    limit after a rules replay, C loop against Python."""
    import attrs
    from falcolib.backend import open_backend
    from falcolib.cli.events_fast import replay_state
    from falcolib.engine import Engine
    from falcolib.rules import RulesText, load_rules
    from falcolib.state import State
    cap = tmp_path / "host.scap"
    host().write(cap)
    official = Path(__file__).resolve().parents[1] / ".." / "shared" / "rules"
    tables = []
    for enabled in (True, False):
        with_c(enabled, monkeypatch)
        eng = Engine(load_rules([official / "falco_rules.yaml", RulesText(SOCKET_RULES)]))
        types = eng.wanted_types(False, lean=True, high_volume=True)
        with open_backend("scap", path=str(cap), types=None if enabled else types) as be:
            state = replay_state(be, eng, types) if enabled else None
            if state is None:
                state = State(be.snapshot())
            eng.run(be, lambda a: None, state=state)
        tables.append({tid: (t.fdlimit, {fd: attrs.astuple(f) for fd, f in t.fds.items()})
                       for tid, t in state.threads.items()})
    assert tables[0] == tables[1]
    assert sum(len(v[1]) for v in tables[0].values()) >= 7
