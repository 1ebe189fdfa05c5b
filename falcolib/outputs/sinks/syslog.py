"""syslog_output: the local syslog socket (as Falco's syslog(3)) or a remote UDP/TCP server.

Messages are RFC 3164 lines ``<PRI>Mmm dd hh:mm:ss [host ]ident[pid]: msg``; PRI is
facility*8 + the alert's severity (Falco's priorities are syslog's levels). The host
field is sent to remote servers only, as glibc's syslog(3) does locally. TCP uses
newline framing (RFC 6587 non-transparent framing); alert lines never contain one.
"""
from __future__ import annotations

import os
import socket
import time

from falcolib.outputs.alert import Alert
from falcolib.outputs.sinks.base import BaseSink

__all__ = ["FACILITIES", "SyslogSink"]

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
    **{f"local{i}": 16 + i for i in range(8)},
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_UDP = 65000


class SyslogSink(BaseSink):
    """Sends each alert to syslog; ``transport`` is ``unix``, ``udp`` or ``tcp``."""

    name = "syslog"
    wants = "alert"

    def __init__(self, render, *, transport: str = "unix", path: str = "/dev/log",
                 host: str = "127.0.0.1", port: int = 514, facility: str = "user",
                 ident: str = "falcolib", hostname: str | None = None,
                 timeout: float = 2.0) -> None:
        if transport not in ("unix", "udp", "tcp"):
            raise ValueError(f"syslog transport must be unix, udp or tcp (got {transport!r})")
        if facility not in FACILITIES:
            raise ValueError(f"unknown syslog facility {facility!r}")
        self.render = render
        self.transport = transport
        self.path = path
        self.address = (host, port)
        self.facility = FACILITIES[facility]
        self.ident = ident
        self.hostname = hostname or socket.gethostname()
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._unix_type = socket.SOCK_DGRAM

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        if self.transport == "unix":
            try:
                sock = socket.socket(socket.AF_UNIX, self._unix_type)
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                if self._unix_type == socket.SOCK_DGRAM and exc.errno == 91:  # EPROTOTYPE
                    self._unix_type = socket.SOCK_STREAM
                    return self._connect()
                raise
        elif self.transport == "udp":
            family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.connect(self.address)
        else:
            sock = socket.create_connection(self.address, timeout=self.timeout)
        sock.settimeout(self.timeout)
        self._sock = sock
        return sock

    def frame(self, alert: Alert) -> bytes:
        """The syslog record of one alert."""
        tm = time.localtime()
        stamp = f"{_MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
        host = "" if self.transport == "unix" else f"{self.hostname} "
        pri = self.facility * 8 + alert.severity
        record = f"<{pri}>{stamp} {host}{self.ident}[{os.getpid()}]: {self.render(alert)}"
        data = record.encode("utf-8", "replace")
        if self.transport == "udp" and len(data) > _MAX_UDP:
            data = data[:_MAX_UDP]
        if self.transport == "tcp" or (self.transport == "unix" and self._unix_type == socket.SOCK_STREAM):
            data += b"\n" if self.transport == "tcp" else b"\0"
        return data

    def emit(self, alert: Alert) -> None:
        sock = self._connect()
        data = self.frame(alert)
        try:
            if self.transport == "udp" or (self.transport == "unix" and self._unix_type == socket.SOCK_DGRAM):
                sock.send(data)
            else:
                sock.sendall(data)
        except OSError:
            # The server went away (restart, rotation): reconnect once and resend.
            self._disconnect()
            sock = self._connect()
            sock.sendall(data) if sock.type == socket.SOCK_STREAM else sock.send(data)

    def reopen(self) -> None:
        self._disconnect()

    def _disconnect(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()

    def close(self) -> None:
        self._disconnect()
