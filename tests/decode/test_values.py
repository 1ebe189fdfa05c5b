"""Parameter decoding: every type, lazily, without crashing on any capture."""
from __future__ import annotations

import socket
import struct

from falcolib.decode import Event
from falcolib.decode.values import AF_INET, AF_INET6, AF_UNIX, SockAddr, SockTuple
from falcolib.scap.reader import ScapReader


def _fd(v):
    return struct.pack("<q", v)


class TestLazy:
    """Nothing is decoded until asked, and then only once."""

    def test_construction_reads_no_params(self, raw_event):
        e = Event(raw_event(3, [_fd(3), b"/etc/passwd\0", struct.pack("<I", 1),
                                struct.pack("<I", 0), struct.pack("<I", 0), struct.pack("<Q", 0)]))
        assert e._spans is None and e._vals is None
        assert e.value("name") == "/etc/passwd"
        assert e.value(0) == 3 and e.res == 3
        assert e.value("nonexistent") is None and e.value(17) is None

    def test_non_utf8_survives(self, raw_event):
        path = b"/tmp/\xff\xfe-x\0"
        e = Event(raw_event(3, [_fd(-2), path, b"\0\0\0\0", b"\0\0\0\0", b"\0\0\0\0", b"\0" * 8]))
        v = e.value("name")
        assert v.encode("utf-8", "surrogateescape") == path[:-1]
        assert e.res == -2

    def test_truncated_event_does_not_raise(self, raw_event):
        raw = raw_event(3, [_fd(3), b"/etc/passwd\0"])
        cut = raw._replace(size=raw.size - 6)
        e = Event(cut)
        assert e.value(0) == 3
        assert isinstance(e.value(1), str)


class TestAddresses:
    """sockaddr and socktuple for IPv4, IPv6 (and v4-mapped) and unix sockets."""

    def test_sockaddr_ipv4(self, raw_event):
        data = bytes([AF_INET]) + socket.inet_aton("10.0.0.1") + struct.pack("<H", 8080)
        e = Event(raw_event(21, [_fd(0), data]))  # bind exit: res, addr
        assert e.value("addr") == SockAddr(AF_INET, "10.0.0.1", 8080)

    def test_socktuple_ipv6_and_mapped(self, raw_event):
        s = socket.inet_pton(socket.AF_INET6, "2001:db8::4")
        d = socket.inet_pton(socket.AF_INET6, "2001:db8::3")
        data = bytes([AF_INET6]) + s + struct.pack("<H", 54405) + d + struct.pack("<H", 1234)
        e = Event(raw_event(23, [_fd(0), data]))  # connect exit: res, tuple
        assert e.value("tuple") == SockTuple(AF_INET6, "2001:db8::4", 54405, "2001:db8::3", 1234)
        m = socket.inet_pton(socket.AF_INET6, "::ffff:1.2.3.4")
        data = bytes([AF_INET6]) + m + b"\1\0" + m + b"\2\0"
        assert Event(raw_event(23, [_fd(0), data])).value("tuple").family == AF_INET

    def test_unix_tuple(self, raw_event):
        data = bytes([AF_UNIX]) + struct.pack("<QQ", 0xABC, 0xDEF) + b"/run/x.sock\0"
        t = Event(raw_event(23, [_fd(0), data])).value("tuple")
        assert (t.sptr, t.dptr, t.path) == (0xABC, 0xDEF, "/run/x.sock")


class TestCaptures:
    """Every parameter of every event of every shared capture decodes."""

    def test_full_decode(self, captures):
        total = 0
        for cap in captures:
            for raw in ScapReader(cap).events():
                e = Event(raw)
                vals = e.values()
                assert len(vals) == e.nparams
                total += 1
        assert total > 10_000

    def test_ipv6_capture_has_ipv6_tuples(self, shared_dir):
        seen = set()
        for raw in ScapReader(shared_dir / "captures/single_ipv6_conn.scap").events():
            e = Event(raw)
            t = e.value("tuple")
            if isinstance(t, SockTuple):
                seen.add((t.sip, t.sport, t.dip, t.dport))
        assert ("2001:db8::4", 54405, "2001:db8::3", 1234) in seen
