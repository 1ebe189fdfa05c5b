"""Domain names in conditions: ``fd.sip.name = example.com`` as libsinsp's DNS manager.

libsinsp does not read DNS traffic: it resolves the names a condition compares
``fd.cip.name``/``fd.sip.name``/``fd.lip.name``/``fd.rip.name`` with (getaddrinfo),
keeps them refreshed in the background, and matches when the socket's address is
one of a name's addresses. The field's own value is the name whose addresses hold
the socket's address, among the names conditions asked about (none otherwise).

Here the names are resolved on the first event that reaches such a comparison,
which waits at most ``FIRST_WAIT_S`` for the answer; a daemon thread then refreshes
every known name each ``REFRESH_S``. At most ``MAX_NAMES`` names are kept (the
names come from rule files, not from events), and no event ever waits on DNS again.
"""
from __future__ import annotations

import socket
import threading

FIRST_WAIT_S = 1.0
REFRESH_S = 10.0
MAX_NAMES = 1024


def _resolve(name: str) -> frozenset[str]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return frozenset()
    return frozenset(info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6))


class DnsCache:
    """The addresses of the names conditions compare with, refreshed in the background."""

    def __init__(self, resolve=_resolve, *, refresh_s: float = REFRESH_S,
                 max_names: int = MAX_NAMES):
        self._resolve = resolve
        self._refresh_s = refresh_s
        self._max = max_names
        self._addrs: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def watch(self, names, wait_s: float = FIRST_WAIT_S) -> None:
        """Resolve the names not known yet, waiting at most ``wait_s`` for them."""
        with self._lock:
            new = [n for n in names if n not in self._addrs][:max(self._max - len(self._addrs), 0)]
            for n in new:
                self._addrs[n] = frozenset()
            if self._thread is None and self._addrs:
                self._thread = threading.Thread(target=self._refresh, name="falcolib-dns",
                                                daemon=True)
                self._thread.start()
        if new:
            done = threading.Event()
            threading.Thread(target=self._first, args=(new, done), daemon=True).start()
            done.wait(wait_s)

    def _first(self, names, done: threading.Event) -> None:
        for n in names:
            self._addrs[n] = self._resolve(n)
        done.set()

    def _refresh(self) -> None:
        while not self._stop.wait(self._refresh_s):
            for n in list(self._addrs):
                self._addrs[n] = self._resolve(n)

    def close(self) -> None:
        """Stop refreshing (the process-wide cache refreshes for the process's life)."""
        self._stop.set()

    def addresses(self, name: str) -> frozenset[str]:
        return self._addrs.get(name, frozenset())

    def name_of(self, addr: str) -> str | None:
        """The first watched name one of whose addresses is ``addr``."""
        for name, addrs in list(self._addrs.items()):
            if addr in addrs:
                return name
        return None


CACHE = DnsCache()

# field -> which address of the socket libsinsp matches: client, server, local, remote
FIELDS = {"fd.cip.name": "client", "fd.sip.name": "server", "fd.lip.name": "local",
          "fd.rip.name": "remote"}


def socket_address(view, side: str) -> str | None:
    """The address ``side`` names on the event's fd (the fd.cip/sip/lip/rip field's value):
    an IP socket with a role only."""
    from falcolib.fields import fd_socket
    if side in ("local", "remote"):
        return fd_socket._local_remote(view, side == "local", False)
    client = fd_socket.fd_cip(view)     # None unless an IP socket with a role
    if client is None or side == "client":
        return client
    return fd_socket.fd_sip(view)


def name_extractor(side: str, cache: DnsCache = CACHE):
    """The field's value: the watched name of the address, if any."""
    def extract(view):
        addr = socket_address(view, side)
        return None if addr is None else cache.name_of(addr)
    return extract


def domain_matcher(side: str, names: list[str], negate: bool, cache: DnsCache = CACHE):
    """``fd.X.name = N`` / ``in (N...)`` (``!=`` with ``negate``) as libsinsp: the field's
    value compared when there is one, else whether the address is one of the names'."""
    wanted = tuple(names)
    watched = []

    def match(view):
        if not watched:
            cache.watch(wanted)
            watched.append(True)
        addr = socket_address(view, side)
        if addr is None:
            return False
        value = cache.name_of(addr)
        if value is not None:
            hit = value in wanted
        else:
            hit = any(addr in cache.addresses(n) for n in wanted)
        return hit != negate
    return match
