"""Each sink delivers every alert to a real receiver, none lost."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from falcolib.config import load_config
from falcolib.outputs import AlertFormat, Dispatcher, SinkRunner, build_dispatcher
from falcolib.outputs.sinks import (
    CallableSink, FileSink, HttpSink, ProgramSink, StdoutSink, SyslogSink,
)

from receivers import DatagramListener, TcpLineListener, schema_problems

RECORD = re.compile(rb"^<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?:(\S+) )?(\S+)\[(\d+)\]: (.*)$",
                    re.S)
ECHO_TO_FILE = textwrap.dedent("""
    import sys
    out = open(sys.argv[1], "ab", buffering=0)
    for line in sys.stdin.buffer:
        out.write(line)
""")


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def run_through(sink, alerts, fmt: AlertFormat | None = None, capacity: int = 4096):
    """Publish every alert through a one-sink dispatcher; return the sink's stats."""
    with Dispatcher([SinkRunner(sink, capacity)], fmt) as disp:
        for alert in alerts:
            disp.publish(alert)
        stats = disp.close(timeout=30)
    return stats.sinks[0]


def exact(stats, expected: int) -> None:
    assert stats.submitted == expected
    assert (stats.delivered, stats.dropped, stats.failed, stats.discarded) == (expected, 0, 0, 0)


class TestStdout:
    """stdout_output writes one line per alert on the process's real stdout."""

    def test_subprocess_stdout(self, alerts, monkeypatch):
        """A child process's stdout holds every alert, as text then as JSON."""
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from receivers import capture_alerts
            from falcolib.config import load_config
            from falcolib.outputs import build_dispatcher
            cfg = load_config(None, sys.argv[1:])
            with build_dispatcher(cfg) as disp:
                for a in capture_alerts():
                    disp.publish(a)
        """)
        for sets in ([], ["json_output=true"]):
            out = subprocess.run([sys.executable, "-c", script, *sets], capture_output=True,
                                 env={**os.environ, "TZ": "UTC"}, check=True).stdout
            lines = out.decode().splitlines()
            assert len(lines) == len(alerts)
            fmt = AlertFormat(json_output=bool(sets))
            monkeypatch.setenv("TZ", "UTC")
            time.tzset()
            assert lines == [fmt.render(a) for a in alerts]

    def test_stream_argument(self, alerts, tmp_path):
        """A StdoutSink can target another text stream."""
        path = tmp_path / "out.txt"
        with open(path, "w", encoding="utf-8") as stream:
            stats = run_through(StdoutSink(stream), alerts)
        exact(stats, len(alerts))
        assert path.read_text().splitlines() == [a.to_text() for a in alerts]


class TestFile:
    """file_output appends lines; SIGUSR1 reopens the file for rotation."""

    @pytest.mark.parametrize("keep_alive", [True, False])
    def test_all_lines(self, alerts, tmp_path, keep_alive):
        """Every alert is one line of the file, in order."""
        path = tmp_path / "events.txt"
        exact(run_through(FileSink(str(path), keep_alive=keep_alive), alerts), len(alerts))
        assert path.read_text().splitlines() == [a.to_text() for a in alerts]

    def test_rotation_with_sigusr1(self, alerts, tmp_path):
        """Rename, SIGUSR1: old alerts in the rotated file, new ones in a fresh file."""
        path = tmp_path / "events.txt"
        half = len(alerts) // 2
        previous = signal.getsignal(signal.SIGUSR1)
        disp = Dispatcher([SinkRunner(FileSink(str(path), keep_alive=True))]).start()
        try:
            disp.install_sigusr1()
            for alert in alerts[:half]:
                disp.publish(alert)
            assert wait_for(lambda: disp.stats().sinks[0].delivered == half)
            os.rename(path, tmp_path / "events.txt.1")
            os.kill(os.getpid(), signal.SIGUSR1)
            assert wait_for(lambda: disp.stats().sinks[0].reopens == 1)
            for alert in alerts[half:]:
                disp.publish(alert)
            stats = disp.close(timeout=10).sinks[0]
        finally:
            signal.signal(signal.SIGUSR1, previous)
        exact(stats, len(alerts))
        lines = [a.to_text() for a in alerts]
        assert (tmp_path / "events.txt.1").read_text().splitlines() == lines[:half]
        assert path.read_text().splitlines() == lines[half:]


class TestSyslog:
    """syslog_output reaches UDP, TCP, unix-socket listeners and rsyslog."""

    def _check(self, records, alerts, remote: bool, facility: int = 1) -> None:
        assert len(records) == len(alerts)
        for record, alert in zip(records, alerts):
            m = RECORD.match(record)
            assert m, record[:80]
            assert int(m.group(1)) == facility * 8 + alert.severity
            assert (m.group(3) is not None) == remote
            assert m.group(4) == b"falcolib" and int(m.group(5)) == os.getpid()
            assert m.group(6).decode() == alert.to_text()

    def test_udp(self, alerts):
        """One datagram per alert, RFC 3164 with host name, severity from priority."""
        listener = DatagramListener(socket.AF_INET, ("127.0.0.1", 0))
        try:
            sink = SyslogSink(AlertFormat().render, transport="udp", host="127.0.0.1",
                              port=listener.address[1], hostname="testhost")
            exact(run_through(sink, alerts), len(alerts))
            assert wait_for(lambda: len(listener.received) == len(alerts))
        finally:
            listener.close()
        self._check(listener.received, alerts, remote=True)

    def test_tcp(self, alerts):
        """Newline-framed records over one TCP connection, JSON lines this time."""
        listener = TcpLineListener()
        try:
            sink = SyslogSink(AlertFormat(json_output=True).render, transport="tcp",
                              port=listener.port, facility="local3")
            exact(run_through(sink, alerts), len(alerts))
            assert wait_for(lambda: len(listener.received) == len(alerts))
        finally:
            listener.close()
        assert len(listener.received) == len(alerts)
        for record, alert in zip(listener.received, alerts):
            m = RECORD.match(record)
            assert int(m.group(1)) == 19 * 8 + alert.severity
            assert schema_problems(json.loads(m.group(6)), alert) == []

    def test_local_unix_socket(self, alerts, tmp_path):
        """The local socket gets syslog(3)'s format: no host name."""
        listener = DatagramListener(socket.AF_UNIX, str(tmp_path / "log"))
        try:
            sink = SyslogSink(AlertFormat().render, transport="unix", path=str(tmp_path / "log"))
            exact(run_through(sink, alerts), len(alerts))
            assert wait_for(lambda: len(listener.received) == len(alerts))
        finally:
            listener.close()
        self._check(listener.received, alerts, remote=False)

    @pytest.mark.skipif(shutil.which("rsyslogd") is None,
                        reason="rsyslogd not installed (apt-get install rsyslog)")
    def test_rsyslog(self, alerts, tmp_path):
        """A real rsyslogd (UDP input) writes every alert to its file."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        out = tmp_path / "rsyslog.out"
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(textwrap.dedent(f"""
            global(workDirectory="{tmp_path}" maxMessageSize="64k")
            module(load="imudp")
            input(type="imudp" address="127.0.0.1" port="{port}")
            template(name="line" type="string" string="%pri%|%hostname%|%syslogtag%|%msg%\\n")
            action(type="omfile" file="{out}" template="line")
        """))
        proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(conf), "-i", str(tmp_path / "pid")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(0.5)  # let imudp bind
            assert proc.poll() is None, proc.stderr.read()
            sink = SyslogSink(AlertFormat().render, transport="udp", port=port,
                              hostname="testhost")
            exact(run_through(sink, alerts), len(alerts))

            def lines():
                return out.read_bytes().splitlines() if out.exists() else []
            assert wait_for(lambda: len(lines()) >= len(alerts), 15)
        finally:
            proc.terminate()
            proc.wait(10)
        got = lines()
        assert len(got) == len(alerts)
        for line, alert in zip(got, alerts):
            pri, host, tag, msg = line.decode().split("|", 3)
            assert int(pri) == 8 + alert.severity and host == "testhost"
            assert tag == f"falcolib[{os.getpid()}]:"
            assert msg.lstrip() == alert.to_text()


class TestProgram:
    """program_output feeds a program's stdin, started once, never through a shell."""

    def test_every_line_reaches_the_program(self, alerts, tmp_path):
        """The program writes what it reads to a file: every alert, one start."""
        out = tmp_path / "prog.out"
        script = tmp_path / "echo.py"
        script.write_text(ECHO_TO_FILE)
        sink = ProgramSink([sys.executable, str(script), str(out)])
        exact(run_through(sink, alerts, AlertFormat(json_output=True)), len(alerts))
        assert sink.starts == 1
        docs = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(docs) == len(alerts)
        assert all(schema_problems(d, a) == [] for d, a in zip(docs, alerts))

    def test_no_shell(self, tmp_path):
        """Shell syntax in the program string reaches the program as literal words."""
        marker = tmp_path / "marker"
        args_out = tmp_path / "args"
        script = tmp_path / "args.py"
        script.write_text("import sys, json\nopen(sys.argv[1], 'w').write(json.dumps(sys.argv[2:]))"
                          "\nsys.stdin.read()\n")
        sink = ProgramSink(f"{sys.executable} {script} {args_out} '$(touch {marker})' ';' "
                           f"touch {marker}")
        from receivers import capture_alerts
        exact(run_through(sink, capture_alerts()[:3]), 3)
        assert json.loads(args_out.read_text()) == [f"$(touch {marker})", ";", "touch", str(marker)]
        assert not marker.exists()

    def test_one_process_per_alert_without_keep_alive(self, alerts, tmp_path):
        """keep_alive false: Falco's one process per alert."""
        out = tmp_path / "prog.out"
        script = tmp_path / "echo.py"
        script.write_text(ECHO_TO_FILE)
        sink = ProgramSink([sys.executable, str(script), str(out)], keep_alive=False)
        exact(run_through(sink, alerts[:10]), 10)
        assert sink.starts == 10
        assert out.read_text().splitlines() == [a.to_text() for a in alerts[:10]]


class TestHttp:
    """http_output POSTs Falco's JSON alert; the receiver validates every field."""

    def test_plain_http(self, alerts, http_receiver):
        """Every alert arrives once, in order, passing the schema, with Falco's headers."""
        receiver = http_receiver()
        sink = HttpSink(f"http://127.0.0.1:{receiver.port}/")
        exact(run_through(sink, alerts), len(alerts))
        assert len(receiver.bodies) == len(alerts)
        for body, alert in zip(receiver.bodies, alerts):
            assert schema_problems(json.loads(body), alert) == []
        assert {h["Content-Type"] for h in receiver.headers} == {"application/json"}
        assert {h["User-Agent"] for h in receiver.headers} == {"falcosecurity/falco"}

    def _tls_server(self, pki, require_client: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki / "server.crt", pki / "server.key")
        if require_client:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(pki / "ca.crt")
        return ctx

    def test_https_with_ca_and_client_certificate(self, alerts, http_receiver, pki):
        """TLS verified against our CA, client authenticated by its certificate."""
        receiver = http_receiver(tls=self._tls_server(pki, require_client=True))
        sink = HttpSink(f"https://127.0.0.1:{receiver.port}/", ca_cert=str(pki / "ca.crt"),
                        mtls=True, client_cert=str(pki / "client.crt"),
                        client_key=str(pki / "client.key"))
        exact(run_through(sink, alerts), len(alerts))
        assert [json.loads(b)["time"] for b in receiver.bodies] == \
            [json.loads(a.to_json())["time"] for a in alerts]

    def test_https_failures_are_counted(self, alerts, http_receiver, pki):
        """Unknown CA, or no client certificate: every alert fails, counted, none delivered."""
        receiver = http_receiver(tls=self._tls_server(pki, require_client=True))
        url = f"https://127.0.0.1:{receiver.port}/"
        for sink in (HttpSink(url, retries=0),  # system CAs do not know ours
                     HttpSink(url, ca_cert=str(pki / "ca.crt"), retries=0)):  # no client cert
            stats = run_through(sink, alerts[:5])
            assert (stats.submitted, stats.delivered, stats.failed) == (5, 0, 5)
        assert receiver.bodies == []
        insecure = HttpSink(url, insecure=True, mtls=True, client_cert=str(pki / "client.crt"),
                            client_key=str(pki / "client.key"))
        exact(run_through(insecure, alerts[:5]), 5)


class TestCallable:
    """A Python callable receives Alert objects in its own thread."""

    def test_receives_alerts(self, alerts):
        """Same objects, same order."""
        got = []
        exact(run_through(CallableSink(got.append), alerts), len(alerts))
        assert got == alerts

    def test_exception_counted(self, alerts):
        """A callable that raises fails that alert only."""
        def picky(alert):
            if alert.priority == "Debug":
                raise RuntimeError("no debug")
        stats = run_through(CallableSink(picky), alerts)
        debug = sum(a.priority == "Debug" for a in alerts)
        assert (stats.delivered, stats.failed) == (len(alerts) - debug, debug)


class TestAllFromConfig:
    """A config file enabling every sink: each receiver gets every alert."""

    def test_all_sinks(self, alerts, tmp_path, http_receiver):
        """file, syslog (UDP), program and http from one YAML file, plus a callable."""
        receiver = http_receiver()
        udp = DatagramListener(socket.AF_INET, ("127.0.0.1", 0))
        script = tmp_path / "echo.py"
        script.write_text(ECHO_TO_FILE)
        cfg_path = tmp_path / "falcolib.yaml"
        cfg_path.write_text(textwrap.dedent(f"""
            json_output: true
            stdout_output: {{enabled: false}}
            file_output: {{enabled: true, keep_alive: true, filename: {tmp_path / 'file.out'}}}
            syslog_output: {{enabled: true, transport: udp, port: {udp.address[1]}}}
            program_output:
              enabled: true
              program: [{sys.executable}, {script}, {tmp_path / 'prog.out'}]
            http_output: {{enabled: true, url: "http://127.0.0.1:{receiver.port}/"}}
        """))
        got = []
        disp = build_dispatcher(load_config(str(cfg_path)), callables=[got.append]).start()
        for alert in alerts:
            disp.publish(alert)
        stats = disp.close(timeout=30)
        try:
            assert wait_for(lambda: len(udp.received) == len(alerts))
        finally:
            udp.close()
        assert [s.name for s in stats.sinks] == ["file", "syslog", "program", "http", "append"]
        for sink in stats.sinks:
            exact(sink, len(alerts))
        lines = [a.to_json() for a in alerts]
        assert (tmp_path / "file.out").read_text().splitlines() == lines
        assert (tmp_path / "prog.out").read_text().splitlines() == lines
        assert [b.decode() for b in receiver.bodies] == lines
        assert [RECORD.match(r).group(6).decode() for r in udp.received] == lines
        assert got == alerts
        assert stats.total == len(alerts)
        assert sum(stats.by_rule().values()) == len(alerts)


class TestReplayMode:
    """build_dispatcher(replay=True): a slow sink slows the replay instead of losing alerts."""

    def test_slow_sink_loses_nothing(self, alerts):
        """Queue of 4, a sink taking 1 ms per alert: every alert delivered, none dropped."""
        got = []

        def slow(alert):
            time.sleep(0.001)
            got.append(alert)
        disp = Dispatcher([SinkRunner(CallableSink(slow), 4, block=2.0)]).start()
        for alert in alerts:
            disp.publish(alert)
        exact(disp.close(timeout=5).sinks[0], len(alerts))
        assert got == alerts

    def test_dead_sink_gives_up(self, alerts):
        """A sink that delivers nothing makes publish wait at most `block` s, then drop."""
        import threading
        never = threading.Event()
        disp = Dispatcher([SinkRunner(CallableSink(lambda a: never.wait()), 2, block=0.2)]).start()
        start = time.monotonic()
        for alert in alerts[:6]:
            disp.publish(alert)
        waited = time.monotonic() - start
        stats = disp.close(timeout=0.2).sinks[0]
        never.set()
        assert 0.2 <= waited < 0.35  # one wait of 0.2 s, then drops until it delivers again
        assert stats.submitted == 6 and stats.delivered == 0 and stats.lost == 6
        assert stats.dropped >= 3

    def test_from_config(self, alerts):
        """replay=True takes the wait from output_timeout; live never waits."""
        config = load_config(None, ["output_timeout=1500", "stdout_output.enabled=false"])
        assert build_dispatcher(config, callables=[print], replay=True).runners[0].block == 1.5
        assert build_dispatcher(config, callables=[print]).runners[0].block == 0.0


class TestLazySinkImports:
    """Sink classes load on first use: a stdout run does not import the HTTP sink's ssl."""

    def test_http_sink_loaded_on_use(self):
        import subprocess
        import sys
        code = ("import sys, falcolib.outputs.sinks as s\n"
                "before = 'falcolib.outputs.sinks.http' in sys.modules\n"
                "s.StdoutSink\n"
                "mid = 'falcolib.outputs.sinks.http' in sys.modules\n"
                "s.HttpSink\n"
                "print(before, mid, 'falcolib.outputs.sinks.http' in sys.modules, sorted(s.__all__) == dir(s))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.stdout.split() == ["False", "False", "True", "True"], out.stderr

    def test_unknown_name(self):
        import falcolib.outputs.sinks as sinks
        with pytest.raises(AttributeError, match="no attribute 'NoSink'"):
            sinks.NoSink
