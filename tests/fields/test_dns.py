"""fd.cip/sip/lip/rip.name: conditions match a socket by the addresses their names resolve to,
as sysdig 0.29's DNS manager does (getaddrinfo: /etc/hosts maps localhost here)."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from falcolib.fields.dns import DnsCache

FILTERS = ["fd.sip.name=localhost", "fd.sip.name!=localhost and evt.type=connect",
           "fd.cip.name=localhost", "fd.lip.name=localhost",
           "fd.rip.name in (localhost, no-such-host.invalid)",
           "evt.type=connect and fd.sip.name in (no-such-host.invalid)"]
CAPTURES = ["connect_localhost.scap", "single_ipv6_conn.scap", "test_ipv6_client.scap",
            "curl_google.scap"]
FORMAT = "%evt.num %evt.type %fd.name %fd.sip.name %fd.cip.name %fd.rip.name"


@pytest.mark.oracle
class TestAgainstSysdig:
    """falcolib events prints what sysdig -r prints for DNS-name filters and fields."""

    @pytest.mark.parametrize("flt", FILTERS)
    @pytest.mark.parametrize("capture", CAPTURES)
    def test_filter(self, sysdig, shared_dir, capture, flt):
        path = shared_dir / "captures" / capture
        want = subprocess.run([sysdig, "-r", str(path), flt, "-p", FORMAT], capture_output=True,
                              text=True, timeout=120).stdout
        got = subprocess.run([sys.executable, "-m", "falcolib", "events", str(path), flt,
                              "-p", FORMAT], capture_output=True, text=True, timeout=120).stdout
        assert got == want

    def test_localhost_connect_matches(self, shared_dir):
        """The one connect to 127.0.0.1 in connect_localhost.scap (sysdig: event 187)."""
        path = shared_dir / "captures" / "connect_localhost.scap"
        got = subprocess.run([sys.executable, "-m", "falcolib", "events", str(path),
                              "fd.sip.name=localhost", "-p", "%evt.num %fd.sip.name"],
                             capture_output=True, text=True, timeout=120).stdout
        assert got == "187 localhost\n"


class TestCache:
    """Names are resolved on first use, bounded, and never make an event wait twice."""

    def test_addresses_and_reverse(self):
        cache = DnsCache(lambda n: {"a.test": frozenset({"10.0.0.1", "::1"}),
                                    "b.test": frozenset({"10.0.0.2"})}.get(n, frozenset()))
        cache.watch(["a.test", "b.test", "none.test"])
        assert cache.addresses("a.test") == {"10.0.0.1", "::1"}
        assert cache.name_of("10.0.0.2") == "b.test"
        assert cache.name_of("10.0.0.3") is None
        assert cache.addresses("none.test") == frozenset()

    def test_bounded(self):
        cache = DnsCache(lambda n: frozenset({"10.0.0.9"}), max_names=3)
        cache.watch([f"n{i}.test" for i in range(10)])
        assert sum(1 for i in range(10) if cache.addresses(f"n{i}.test")) == 3

    def test_slow_resolver_waits_once(self):
        release = threading.Event()

        def slow(name):
            release.wait(5)
            return frozenset({"10.1.1.1"})
        cache = DnsCache(slow)
        cache.watch(["slow.test"], wait_s=0.05)   # gives up waiting, resolution goes on
        assert cache.addresses("slow.test") == frozenset()
        cache.watch(["slow.test"], wait_s=5)      # known: no second wait
        release.set()
        for _ in range(100):
            if cache.addresses("slow.test"):
                break
            threading.Event().wait(0.01)
        assert cache.addresses("slow.test") == {"10.1.1.1"}

    def test_refresh_follows_changes(self):
        answers = {"x.test": frozenset({"10.0.0.1"})}
        cache = DnsCache(lambda n: answers[n], refresh_s=0.02)
        cache.watch(["x.test"])
        answers["x.test"] = frozenset({"10.0.0.7"})
        for _ in range(200):
            if cache.name_of("10.0.0.7"):
                break
            threading.Event().wait(0.01)
        cache.close()
        assert cache.name_of("10.0.0.7") == "x.test" and cache.name_of("10.0.0.1") is None
