"""`falcolib run --capture` with a config enabling every sink: each receiver gets every alert."""
from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import time

import pytest

from receivers import SHARED, DatagramListener, TcpLineListener, schema_problems

RULES = textwrap.dedent("""
    - rule: Any open
      desc: every file opened
      condition: evt.type in (open, openat, openat2) and evt.dir = <
      output: "File opened (file=%fd.name proc=%proc.name cmdline=%proc.cmdline fd=%fd.num)"
      priority: NOTICE
      tags: [filesystem, test]
    - rule: Any exec
      desc: every exec
      condition: evt.type = execve and evt.dir = <
      output: "Program run (proc=%proc.name exe=%proc.exepath parent=%proc.pname)"
      priority: WARNING
      tags: [process]
""")
CAPTURES = ["curl_google.scap", "open-multiple-files.scap", "psp_run_as_user_0_container.scap"]
ECHO = "import sys\nout = open(sys.argv[1], 'ab', buffering=0)\nfor line in sys.stdin.buffer:\n    out.write(line)\n"


def falcolib(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "falcolib", *args], capture_output=True,
                          env={**os.environ, "TZ": "UTC", "FALCO_HOSTNAME": "replayhost"},
                          timeout=120)


@pytest.mark.parametrize("capture", CAPTURES)
def test_every_sink_gets_every_alert(capture, tmp_path, http_receiver, pki):
    """file, syslog (UDP and TCP runs), program, HTTPS with mTLS: the --json stdout's alerts."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    path = str(SHARED / "captures" / capture)
    reference = falcolib("run", "--capture", path, "--rules", str(rules), "--json")
    assert reference.returncode == 0, reference.stderr
    expected = reference.stdout.decode().splitlines()
    assert len(expected) > 0
    for line in expected:
        assert schema_problems(json.loads(line)) == []

    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki / "server.crt", pki / "server.key")
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(pki / "ca.crt")
    receiver = http_receiver(tls=tls)
    udp = DatagramListener(socket.AF_INET, ("127.0.0.1", 0))
    tcp = TcpLineListener()
    (tmp_path / "echo.py").write_text(ECHO)
    config = tmp_path / "falcolib.yaml"
    config.write_text(textwrap.dedent(f"""
        json_output: true
        stdout_output: {{enabled: true}}
        file_output: {{enabled: true, keep_alive: true, filename: {tmp_path / 'file.out'}}}
        syslog_output: {{enabled: true, transport: udp, port: {udp.address[1]}}}
        program_output:
          enabled: true
          program: [{sys.executable}, {tmp_path / 'echo.py'}, {tmp_path / 'prog.out'}]
        http_output:
          enabled: true
          url: https://127.0.0.1:{receiver.port}/
          ca_cert: {pki / 'ca.crt'}
          mtls: true
          client_cert: {pki / 'client.crt'}
          client_key: {pki / 'client.key'}
    """))
    try:
        result = falcolib("run", "--capture", path, "--rules", str(rules), "--config",
                          str(config))
        assert result.returncode == 0, result.stderr
        tcp_run = falcolib("run", "--capture", path, "--rules", str(rules), "--config",
                           str(config), "--set", "syslog_output.transport=tcp",
                           "--set", f"syslog_output.port={tcp.port}",
                           "--set", "http_output.enabled=false",
                           "--set", "file_output.enabled=false",
                           "--set", "program_output.enabled=false")
        assert tcp_run.returncode == 0, tcp_run.stderr
        deadline = time.monotonic() + 10
        while (len(udp.received) < len(expected) or len(tcp.received) < len(expected)) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        udp.close()
        tcp.close()
    assert result.stdout.decode().splitlines() == expected
    assert (tmp_path / "file.out").read_text().splitlines() == expected
    assert (tmp_path / "prog.out").read_text().splitlines() == expected
    assert [b.decode() for b in receiver.bodies] == expected
    for records in (udp.received, tcp.received):
        assert [r.split(b"]: ", 1)[1].decode() for r in records] == expected
