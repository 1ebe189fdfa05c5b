"""fd.* fields on events built in memory: files, IPv4/IPv6 and unix sockets, unknown fds."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder, sockaddr_in, socktuple_in, socktuple_un
from tests.fields.statekit import base_snapshot, feed, field


def _open(b, fd, path):
    return [b.named("PPME_SYSCALL_OPEN_E", path, 1, 0),
            b.named("PPME_SYSCALL_OPEN_X", fd, path, 1, 0, 0, 0)]


class TestFiles:
    """Opened files get absolute, sanitized names; close removes them one event later."""

    def test_relative_open_and_close(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, _open(b, 3, "../etc/./passwd"))
        assert (field(v, "fd.num"), field(v, "fd.name"), field(v, "fd.typechar")) == (3, "/home/etc/passwd", "f")
        assert field(v, "fd.directory") == "/home/etc"
        assert field(v, "fd.filename") == "passwd"
        assert st.fd_label(200, 3) == "<f>/home/etc/passwd"
        v = feed(st, [b.named("PPME_SYSCALL_CLOSE_E", 3), b.named("PPME_SYSCALL_CLOSE_X", 0)])
        assert field(v, "fd.name") == "/home/etc/passwd"   # still there for the close itself
        feed(st, [b.named("PPME_SYSCALL_GETUID_E")])
        assert st.fd_label(200, 3) is None

    def test_non_utf8_path(self):
        st = State(base_snapshot())
        v = feed(st, _open(EventBuilder(tid=200), 4, b"/tmp/\xc3\xa9t\xff\0"))
        assert field(v, "fd.name") == "/tmp/..t."

    def test_fd_never_seen_opened(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SYSCALL_READ_E", 9, 10), b.named("PPME_SYSCALL_READ_X", 1, b"x")])
        assert field(v, "fd.num") == 9
        assert field(v, "fd.name") == ""
        assert field(v, "fd.type") is None

    def test_non_fd_event_has_no_fd_fields(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=200).named("PPME_SYSCALL_GETUID_E")])
        assert field(v, "fd.num") is None and field(v, "fd.name") is None

    def test_dup_and_pipe(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_PIPE_E"), b.named("PPME_SYSCALL_PIPE_X", 0, 5, 6, 1234)])
        v = feed(st, [b.named("PPME_SYSCALL_DUP_E", 5), b.named("PPME_SYSCALL_DUP_X", 1)])
        assert field(v, "fd.num") == 1 and field(v, "fd.typechar") == "p"
        assert st.fd_label(200, 1) == "<p>"


def _socket(b, fd, domain, stype=1, proto=0):
    return [b.named("PPME_SOCKET_SOCKET_E", domain, stype, proto), b.named("PPME_SOCKET_SOCKET_X", fd)]


class TestSockets:
    """connect/accept give sysdig's tuples, roles and l4 protocol."""

    def test_ipv4_connect(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, _socket(b, 3, 2))
        v = feed(st, [b.named("PPME_SOCKET_CONNECT_E", 3, sockaddr_in("93.184.216.34", 80)),
                      b.named("PPME_SOCKET_CONNECT_X", 0, socktuple_in("10.0.0.5", 40000, "93.184.216.34", 80))])
        assert field(v, "fd.name") == "10.0.0.5:40000->93.184.216.34:80"
        assert (field(v, "fd.cip"), field(v, "fd.sip"), field(v, "fd.sport"), field(v, "fd.cport")) == \
            ("10.0.0.5", "93.184.216.34", 80, 40000)
        assert field(v, "fd.l4proto") == "tcp" and field(v, "fd.sockfamily") == "ip"
        assert field(v, "fd.typechar") == "4"
        assert st.fd_label(200, 3) == "<4t>10.0.0.5:40000->93.184.216.34:80" or \
            st.fd_label(200, 3).endswith("10.0.0.5:40000->93.184.216.34:80")

    def test_ipv6_connect(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, _socket(b, 3, 10))
        v = feed(st, [b.named("PPME_SOCKET_CONNECT_E", 3, sockaddr_in("2001:db8::1", 443)),
                      b.named("PPME_SOCKET_CONNECT_X", 0, socktuple_in("2001:db8::5", 5555, "2001:db8::1", 443))])
        assert field(v, "fd.name") == "2001:db8::5:5555->2001:db8::1:443"
        assert field(v, "fd.typechar") == "6" and field(v, "fd.type") == "ipv6"
        assert field(v, "fd.sip") == "2001:db8::1"

    def test_unix_accept(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        v = feed(st, [b.named("PPME_SOCKET_ACCEPT_5_E"),
                      b.named("PPME_SOCKET_ACCEPT_5_X", 7, socktuple_un(0xABC, 0xDEF, "/run/x.sock"), 0, 0, 5)])
        assert field(v, "fd.name") == "abc->def /run/x.sock"
        assert field(v, "fd.typechar") == "u" and field(v, "fd.sockfamily") == "unix"


class TestNewerEvents:
    """Events libs added after sysdig 0.29 (dup2, pipe2, memfd_create) keep the table right."""

    def test_dup2_pipe2_memfd(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, [b.named("PPME_SYSCALL_PIPE2_E"), b.named("PPME_SYSCALL_PIPE2_X", 0, 5, 6, 99, 0)])
        v = feed(st, [b.named("PPME_SYSCALL_DUP2_E", 6), b.named("PPME_SYSCALL_DUP2_X", 1, 6, 1)])
        assert field(v, "fd.num") == 1 and field(v, "fd.type") == "pipe"
        v = feed(st, [b.named("PPME_SYSCALL_MEMFD_CREATE_E"),
                      b.named("PPME_SYSCALL_MEMFD_CREATE_X", 8, "payload", 0)])
        assert field(v, "fd.name") == "memfd:payload" and field(v, "fd.type") == "memfd"


class TestSendtoInference:
    """A sendto on an unknown fd becomes a UDP socket with the datagram's tuple."""

    def test_sendto_unknown_fd(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        tup = socktuple_in("0.0.0.0", 0, "8.8.8.8", 53)
        v = feed(st, [b.named("PPME_SOCKET_SENDTO_E", 11, 30, tup),
                      b.named("PPME_SOCKET_SENDTO_X", 30, b"q")])
        assert field(v, "fd.l4proto") == "udp"
        assert field(v, "fd.sip") == "8.8.8.8" and field(v, "fd.sport") == 53


class TestEitherEndpoint:
    """fd.ip/fd.net/fd.port/fd.proto match either endpoint; != needs both to differ (compare_ip/port)."""

    def _connected(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, _socket(b, 3, 2))
        return feed(st, [b.named("PPME_SOCKET_CONNECT_E", 3, sockaddr_in("93.184.216.34", 22)),
                         b.named("PPME_SOCKET_CONNECT_X", 0,
                                 socktuple_in("10.0.0.5", 40000, "93.184.216.34", 22))])

    def test_equal_and_not_equal(self):
        from falcolib.filter import compile as compile_filter, parse
        v = self._connected()

        def hit(cond):
            return compile_filter(parse(cond))(v)
        assert hit("fd.port = 22") and hit("fd.port = 40000") and not hit("fd.port = 80")
        assert not hit("fd.port != 22") and hit("fd.port != 80")
        assert hit("fd.proto = ssh") and not hit("fd.proto != ssh") and hit("fd.proto in (http, ssh)")
        assert hit("fd.ip = 10.0.0.5") and not hit("fd.ip != 10.0.0.5") and hit("fd.ip != 1.1.1.1")
        assert not hit("fd.net != 10.0.0.0/8") and hit("fd.net != 11.0.0.0/8")


class TestProtos:
    """fd.cproto/sproto: the port as text on ip sockets, "" on listening sockets as sysdig."""

    def test_listening_socket(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=200)
        feed(st, _socket(b, 3, 2))
        v = feed(st, [b.named("PPME_SOCKET_BIND_E", 3),
                      b.named("PPME_SOCKET_BIND_X", 0, sockaddr_in("0.0.0.0", 8080))])
        assert field(v, "fd.typechar") == "4" and field(v, "fd.sport") == 8080
        assert field(v, "fd.sproto") == "" and field(v, "fd.cproto") == ""

    def test_connected_socket(self):
        v = TestEitherEndpoint()._connected()
        assert (field(v, "fd.cproto"), field(v, "fd.sproto")) == ("40000", "22")
