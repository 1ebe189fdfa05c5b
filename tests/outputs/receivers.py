"""Real receivers for the sink tests (syslog listeners, HTTP(S) servers) and alert sources."""
from __future__ import annotations

import http.server
import json
import re
import socket
import socketserver
import ssl
import threading
from pathlib import Path

from falcolib.decode import Event
from falcolib.outputs.alert import PRIORITIES, Alert
from falcolib.scap.reader import ScapReader

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
HOSTILE = [
    "/tmp/\x1b[2J\x1b[1;1Hcleared",   # terminal escape: clear screen
    "line1\nFAKE: Critical forged alert",  # a forged second line
    "bell\x07 cr\r del\x7f c1\x9b31m",
    "rtl \u202eexe.txt",
    'quote " and backslash \\',
    "bad utf8 \udcff\udcfe",
    "ünïcødé ok",
]
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
_TEXT_TIME = re.compile(r"^\d\d:\d\d:\d\d\.\d{9}: ")
JSON_KEYS = {"hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"}


def capture_alerts():
    """One Alert per event of the shared captures that carries a text parameter, plus
    alerts whose fields hold hostile strings."""
    alerts = []
    for path in sorted((SHARED / "captures").glob("*.scap")):
        for raw in ScapReader(str(path)).events():
            evt = Event(raw)
            value = next((v for v in (evt.value(i) for i in range(evt.nparams))
                          if isinstance(v, str) and v), None)
            if value is None:
                continue
            prio = PRIORITIES[len(alerts) % len(PRIORITIES)]
            alerts.append(Alert(
                time=raw.ts, rule=f"Event {evt.name}", priority=prio,
                output=f"{evt.name} by tid={raw.tid} arg={value}",
                output_fields={"evt.type": evt.name, "thread.tid": raw.tid, "evt.num": raw.num,
                               "evt.arg": value},
                tags=("capture", path.name), hostname="testhost"))
    for i, text in enumerate(HOSTILE):
        alerts.append(Alert(time=1_700_000_000_000_000_000 + i, rule="Hostile strings",
                            priority="Critical", output=f"proc.cmdline={text}",
                            output_fields={"proc.cmdline": text, "proc.pid": i, "x": None},
                            tags=("hostile",), hostname="testhost"))
    return alerts


def schema_problems(doc, expected: Alert | None = None) -> list[str]:
    """Every way ``doc`` departs from Falco's JSON alert schema (and from ``expected``)."""
    problems = []
    if not isinstance(doc, dict):
        return [f"not an object: {type(doc).__name__}"]
    if set(doc) != JSON_KEYS:
        problems.append(f"keys {sorted(doc)} != {sorted(JSON_KEYS)}")
    if not isinstance(doc.get("time"), str) or not _TIME.match(doc["time"]):
        problems.append(f"time {doc.get('time')!r} is not RFC 3339 with ns and Z")
    if doc.get("priority") not in PRIORITIES:
        problems.append(f"priority {doc.get('priority')!r}")
    for key in ("rule", "output", "source", "hostname"):
        if not isinstance(doc.get(key), str):
            problems.append(f"{key} is not a string")
    if not isinstance(doc.get("output"), str) or not _TEXT_TIME.match(doc["output"]) \
            or f": {doc.get('priority')} " not in doc["output"]:
        problems.append(f"output {doc.get('output')!r} lacks Falco's time/priority prefix")
    tags = doc.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) or tags != sorted(tags):
        problems.append(f"tags {tags!r} not a sorted list of strings")
    fields = doc.get("output_fields")
    if not isinstance(fields, dict) or not all(
            isinstance(v, (str, int, float, bool, type(None))) for v in fields.values()):
        problems.append("output_fields is not an object of scalars")
    elif not isinstance(fields.get("evt.time"), int):
        problems.append("output_fields lacks evt.time as an integer")
    if expected is not None and not problems:
        from falcolib.outputs.alert import rfc3339_time
        if doc["time"] != rfc3339_time(expected.time) or doc["rule"] != expected.rule \
                or doc["priority"] != expected.priority or doc["hostname"] != expected.hostname \
                or doc["source"] != expected.source or doc["tags"] != sorted(set(expected.tags)) \
                or fields["evt.time"] != expected.time:
            problems.append(f"does not match the alert sent: {doc}")
    return problems


class _Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class HttpReceiver:
    """An HTTP(S) server recording POSTed bodies; ``mode``: ok, hang, or an error status."""

    def __init__(self, tls: ssl.SSLContext | None = None, mode: str | int = "ok") -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.mode = mode
        self.release = threading.Event()
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                if owner.mode == "hang":
                    owner.release.wait(30)
                    return
                status = owner.mode if isinstance(owner.mode, int) else 200
                if status == 200:
                    with owner.lock:
                        owner.bodies.append(body)
                        owner.headers.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = _Receiver(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class DatagramListener:
    """A UDP or unix-datagram socket collecting what it receives."""

    def __init__(self, family: int, address) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(address)
        self.address = self.sock.getsockname()
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                data = self.sock.recv(70000)
            except OSError:
                return
            self.received.append(data)

    def close(self) -> None:
        self.sock.close()


class TcpLineListener(socketserver.ThreadingTCPServer):
    """A TCP server collecting newline-framed records."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.received: list[bytes] = []
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    owner.received.append(line.rstrip(b"\n"))

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def parse_json_lines(lines) -> list[dict]:
    return [json.loads(line) for line in lines]
