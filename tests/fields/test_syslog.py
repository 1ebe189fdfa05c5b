"""syslog.* fields: a successful write to /dev/log decoded as sysdig 0.29's syslog decoder."""
from __future__ import annotations

import pytest

from falcolib.fields.syslog import parse_message
from falcolib.state import State
from falcolib.testing.events import EventBuilder, socktuple_un
from tests.fields.statekit import base_snapshot, feed, field


def _write(path: str, data: bytes, res: int | None = None):
    st = State(base_snapshot())
    b = EventBuilder(tid=200)
    feed(st, [b.named("PPME_SOCKET_ACCEPT_5_E"),
              b.named("PPME_SOCKET_ACCEPT_5_X", 7, socktuple_un(0xABC, 0xDEF, path), 0, 0, 5)])
    return feed(st, [b.named("PPME_SYSCALL_WRITE_E", 7, len(data)),
                     b.named("PPME_SYSCALL_WRITE_X", len(data) if res is None else res, data)])


class TestDecode:
    """<PRI>message: severity PRI & 7, facility PRI >> 3, on the write exit only."""

    def test_message_to_dev_log(self):
        v = _write("/dev/log", b"<86>sudo: pam_unix(sudo:session): session opened")
        assert (field(v, "syslog.facility"), field(v, "syslog.facility.str")) == (10, "authpriv")
        assert (field(v, "syslog.severity"), field(v, "syslog.severity.str")) == (6, "info")
        assert field(v, "syslog.message") == "sudo: pam_unix(sudo:session): session opened"
        assert field(v, "evt.is_syslog") is True

    @pytest.mark.parametrize("path,data,res", [
        ("/run/other.sock", b"<86>x", None),   # not /dev/log
        ("/dev/log", b"<86>x", -9),            # failed write
        ("/dev/log", b"<>x", None),            # empty PRI
        ("/dev/log", b"<8a>x", None),          # not digits
    ])
    def test_no_value(self, path, data, res):
        v = _write(path, data, res)
        assert field(v, "syslog.message") is None and field(v, "syslog.severity") is None

    def test_parse_rules(self):
        assert parse_message(b"<13>hi") == (5, 1, b"hi")
        assert parse_message(b"x13>hi") == (5, 1, b"hi")      # the first byte is skipped unread
        assert parse_message(b"<191>") == (7, 23, b"")
        assert parse_message(b"<200>m") == (0, 25, b"m")       # facility 25: no name
        assert parse_message(b"<1") is None                    # shorter than PRI + 2
        assert parse_message(b"<" + b"9" * 20 + b">m") is not None   # 15 digits, int32 wrap
