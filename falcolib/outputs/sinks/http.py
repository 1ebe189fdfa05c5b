"""http_output: each alert POSTed as Falco's JSON alert (what falcosidekick's ``/`` accepts).

Stdlib only: ``ssl`` for TLS, a small HTTP/1.1 client of our own (see ``_Connection`` for
why not http.client).

Falco's keys: ``url``, ``user_agent``, ``insecure``, ``ca_cert``, ``ca_bundle``,
``ca_path``, ``mtls`` with ``client_cert``/``client_key``, ``echo``, ``keep_alive``,
``max_consecutive_timeouts``. The body is always the JSON alert (Falco posts text when
``json_output`` is off, which no JSON receiver understands). A request that fails to
connect, times out, or gets a 5xx/429 answer is retried ``retries`` times with a pause
doubling from ``backoff`` up to 2 s; any other non-2xx answer fails at once.
"""
from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import sys
import time
import urllib.parse

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["HttpError", "HttpSink"]

log = logging.getLogger("falcolib.outputs")
_MAX_PAUSE = 2.0


class HttpError(OSError):
    """The receiver answered with a status that is not 2xx."""


def _tls_context(insecure: bool, ca_cert: str, ca_bundle: str, ca_path: str, mtls: bool,
                 client_cert: str, client_key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=(ca_cert or ca_bundle or None),
                                     capath=(None if ca_cert or ca_bundle else ca_path or None))
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if mtls:
        ctx.load_cert_chain(client_cert, client_key or None)
    return ctx


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)")
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked")
_CONNECTION = re.compile(rb"\r\nconnection:([^\r]*)")


class _Connection:
    """A minimal persistent HTTP/1.1 client connection over socket/ssl.

    http.client costs ~70 us of CPU per POST here (most of it parsing response headers
    through the email package) against ~6 us for this; at 1,000 alerts/s that is 7% of
    the event loop's core. It sends one buffer per request (TCP_NODELAY) and reads the
    response by Content-Length, chunked encoding, or to EOF.
    """

    def __init__(self, host: str, port: int, timeout: float,
                 context: ssl.SSLContext | None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            try:
                sock = context.wrap_socket(sock, server_hostname=host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def _more(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionResetError("the receiver closed the connection")
        self.buffer += data

    def _take(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._more()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if len(self.buffer) > 65536:
                raise http.client.LineTooLong("response line")
            self._more()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def _head(self) -> bytes:
        """The status line and headers of the next response (the blank line consumed)."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
                return head
            if len(self.buffer) > 65536:
                raise http.client.LineTooLong("response headers")
            self._more()

    def post(self, request: bytes) -> tuple[int, str, bytes, bool]:
        """Send one request; return (status, reason, body, server_will_close)."""
        self.sock.sendall(request)
        while True:
            head = self._head()
            status_line, _, rest = head.partition(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
                raise http.client.BadStatusLine(status_line.decode("latin-1", "replace"))
            status = int(parts[1])
            if not 100 <= status < 200:  # 100 Continue and friends: the real answer follows
                break
        fields = b"\r\n" + rest.lower()
        connection = _CONNECTION.search(fields)
        will_close = (connection is not None and connection.group(1).strip() == b"close") \
            or parts[0] == b"HTTP/1.0"
        length = _CONTENT_LENGTH.search(fields)
        if _CHUNKED.search(fields):
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
        elif length is not None:
            body = self._take(int(length.group(1)))
        elif status in (204, 304):
            body = b""
        else:
            will_close = True
            try:
                while True:
                    self._more()
            except ConnectionResetError:
                pass
            body, self.buffer = self.buffer, b""
        reason = parts[2].decode("latin-1", "replace") if len(parts) > 2 else ""
        return status, reason, body, will_close


class HttpSink(BaseSink):
    """POSTs each JSON alert to ``url`` over one persistent HTTP/1.1 connection."""

    name = "http"
    wants = "json"

    def __init__(self, url: str, *, user_agent: str = "falcosecurity/falco",
                 insecure: bool = False, ca_cert: str = "", ca_bundle: str = "",
                 ca_path: str = "", mtls: bool = False, client_cert: str = "",
                 client_key: str = "", echo: bool = False, keep_alive: bool = True,
                 timeout: float = 2.0, retries: int = 5, backoff: float = 0.1) -> None:
        url = url.strip()
        if len(url) >= 2 and url[0] == url[-1] and url[0] in "\"'":
            url = url[1:-1]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"http_output.url must be an http:// or https:// URL (got {url!r})")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rpartition("@")[2]
        self._head = (f"POST {target} HTTP/1.1\r\nHost: {host_header}\r\n"
                      f"User-Agent: {user_agent}\r\nContent-Type: application/json\r\n"
                      f"Accept: */*\r\n"
                      f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}"
                      "Content-Length: ").encode("latin-1")
        self.context = (_tls_context(insecure, ca_cert, ca_bundle, ca_path, mtls, client_cert,
                                     client_key) if parts.scheme == "https" else None)
        self.echo = echo
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._conn: _Connection | None = None
        self.attempts = 0

    def _post_once(self, request: bytes) -> None:
        self.attempts += 1
        if self._conn is None:
            self._conn = _Connection(self.host, self.port, self.timeout, self.context)
        try:
            status, reason, data, will_close = self._conn.post(request)
        except BaseException:
            self._disconnect()
            raise
        if will_close or not self.keep_alive:
            self._disconnect()
        if self.echo and data:
            sys.stdout.write(data.decode("utf-8", "replace") + "\n")
        if not 200 <= status < 300:
            raise HttpError(f"{self.url} answered {status} {reason}", status)

    def emit(self, json_alert: str) -> None:
        body = json_alert.encode("utf-8")
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        pause = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self._post_once(request)
                return
            except HttpError as exc:
                status = exc.args[1]
                if not (status >= 500 or status == 429) or attempt == self.retries:
                    raise
            except (OSError, http.client.HTTPException):
                if attempt == self.retries:
                    raise
            time.sleep(pause)
            pause = min(_MAX_PAUSE, pause * 2)

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def reopen(self) -> None:
        self._disconnect()

    def close(self) -> None:
        self._disconnect()
