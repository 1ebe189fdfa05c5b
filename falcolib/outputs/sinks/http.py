"""http_output: each alert POSTed as Falco's JSON alert (what falcosidekick's ``/`` accepts).

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
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Content-Type": "application/json", "User-Agent": user_agent,
                        "Host": parts.netloc}
        self.context = (_tls_context(insecure, ca_cert, ca_bundle, ca_path, mtls, client_cert,
                                     client_key) if parts.scheme == "https" else None)
        self.echo = echo
        self.keep_alive = keep_alive
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._conn: http.client.HTTPConnection | None = None
        self.attempts = 0

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.context is not None:
                self._conn = http.client.HTTPSConnection(self.host, self.port,
                                                         timeout=self.timeout,
                                                         context=self.context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
        return self._conn

    def _post_once(self, body: bytes) -> None:
        self.attempts += 1
        conn = self._connection()
        try:
            conn.request("POST", self.target, body=body, headers=self.headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self._disconnect()
            raise
        if not self.keep_alive or response.will_close:
            self._disconnect()
        if self.echo and data:
            sys.stdout.write(data.decode("utf-8", "replace") + "\n")
        if not 200 <= response.status < 300:
            raise HttpError(f"{self.url} answered {response.status} {response.reason}",
                            response.status)

    def emit(self, json_alert: str) -> None:
        body = json_alert.encode("utf-8")
        pause = self.backoff
        for attempt in range(self.retries + 1):
            try:
                self._post_once(body)
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
