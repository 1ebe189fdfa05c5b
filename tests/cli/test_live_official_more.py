"""Real attacks by host processes raise Falco's incubating and sandbox rules through `falcolib run`:
what a process is named, runs with or spawns, its connections and its kernel calls.

The three official rule files run unmodified on the live eBPF backend with a tuning file of
the kind a Falco user writes (live_attacks.TUNE: the sandbox's disabled rules enabled, the
template lists filled) and rule_matching=all, so that no earlier rule hides a later one.
Each test performs one attack for real and checks the alert's fields that identify it.
"""
from __future__ import annotations

import os
import pty
import socket
import subprocess

import pytest

from .conftest import Monitor
from .live_attacks import live_range, marker, run

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rng(tmp_path_factory):
    with live_range(tmp_path_factory.mktemp("attacks"), Monitor) as r:
        yield r


class TestHostProcessRules:
    """Rules on what a host process is named, runs with, or spawns."""

    def test_schedule_cron_jobs(self, rng):
        m = marker()
        a = rng.expect("Schedule Cron Jobs", lambda: run([rng.named("crontab"), m]),
                       lambda f: f["proc.cmdline"] == f"crontab {m}")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "crontab"
        assert a["output_fields"]["evt.type"] == "execve"

    def test_db_program_spawned_process(self, rng):
        m = marker()
        code = f"import subprocess; subprocess.run(['/bin/true', '{m}'])"
        a = rng.expect("DB program spawned process", lambda: run([rng.python_as("mysqld"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"true {m}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "mysqld"

    def test_disallowed_http_proxy_env(self, rng):
        m = marker()
        a = rng.expect("Program run with disallowed http proxy env",
                       lambda: run([rng.named("curl"), m], env={"HTTP_PROXY": "http://127.0.0.1:9"}),
                       lambda f: f["proc.cmdline"] == f"curl {m}")
        assert a is not None
        assert "HTTP_PROXY=http://127.0.0.1:9" in a["output_fields"]["proc.env"]

    def test_user_mgmt_binaries(self, rng):
        m = marker()
        a = rng.expect("User mgmt binaries", lambda: run([rng.named("groupmems"), m]),
                       lambda f: f["proc.cmdline"] == f"groupmems {m}")
        assert a is not None
        assert a["output_fields"]["container.id"] == "host"

    def test_network_tool_on_host(self, rng):
        m = marker()
        a = rng.expect("Launch Suspicious Network Tool on Host", lambda: run([rng.named("nc"), m]),
                       lambda f: f["proc.cmdline"] == f"nc {m}")
        assert a is not None
        assert a["output_fields"]["proc.exepath"] == rng.named("nc")

    def test_netcat_remote_code_execution_on_host(self, rng):
        m = marker()
        a = rng.expect("Netcat/Socat Remote Code Execution on Host",
                       lambda: run([rng.named("nc"), "-e", "/bin/true", m]),
                       lambda f: f["proc.cmdline"] == f"nc -e /bin/true {m}")
        assert a is not None
        assert a["priority"] == "Warning"

    def test_glibc_tunables_env(self, rng):
        m = marker()
        a = rng.expect("Potential Local Privilege Escalation via Environment Variables Misuse",
                       lambda: run(["/bin/true", m], env={"GLIBC_TUNABLES": "glibc.malloc.check=1"}),
                       lambda f: f["proc.cmdline"] == f"true {m}")
        assert a is not None
        assert "GLIBC_TUNABLES=glibc.malloc.check=1" in a["output_fields"]["proc.env"]

    def test_stratum_miner(self, rng):
        m = marker()
        a = rng.expect("Detect crypto miners using the Stratum protocol",
                       lambda: run(["/bin/true", f"stratum+tcp://{m}:3333"]),
                       lambda f: f["proc.cmdline"] == f"true stratum+tcp://{m}:3333")
        assert a is not None
        assert a["priority"] == "Critical"

    def test_sudoedit_escalation(self, rng):
        m = marker()
        a = rng.expect("Sudo Potential Privilege Escalation",
                       lambda: run([rng.named("sudoedit"), "-s", f"{m}\\"]),
                       lambda f: f["proc.cmdline"] == f"sudoedit -s {m}\\")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "sudoedit"

    def test_pkexec_without_arguments(self, rng):
        pkexec = rng.named("pkexec")
        a = rng.expect("Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)",
                       lambda: run([pkexec]), lambda f: f["proc.exepath"] == pkexec)
        assert a is not None
        assert a["output_fields"]["proc.args"] == ""

    def test_known_cryptominer(self, rng):
        m = marker()
        a = rng.expect("Known Cryptominer Process Executed", lambda: run([rng.named("xmrig"), m]),
                       lambda f: f["proc.cmdline"] == f"xmrig {m}")
        assert a is not None
        assert a["output_fields"]["proc.exepath"] == rng.named("xmrig")

    def test_interactive_reconnaissance(self, rng):
        m = marker()

        def attack():   # a session leader on a terminal, as typed at a shell prompt
            pid, fd = pty.fork()
            if pid == 0:
                os.execv("/usr/bin/id", ["id", m])
            os.waitpid(pid, 0)
            os.close(fd)
        a = rng.expect("Basic Interactive Reconnaissance", attack,
                       lambda f: f["proc.cmdline"] == f"id {m}")
        assert a is not None
        assert a["output_fields"]["proc.tty"] != 0


class TestWebServerRules:
    """A process named nginx spawning shells and tools."""

    def _spawn(self, rng, argv):
        code = f"import subprocess; subprocess.run({argv!r})"
        return lambda: run([rng.python_as("nginx"), "-c", code])

    def test_web_server_spawned_shell(self, rng):
        m = marker()
        a = rng.expect("Web Server Spawned Shell", self._spawn(rng, ["/bin/sh", "-c", f"true {m}"]),
                       lambda f: f["proc.cmdline"] == f"sh -c true {m}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "nginx"

    def test_web_server_suspicious_child(self, rng):
        m = marker()
        a = rng.expect("Web Server Spawned Suspicious Child Process",
                       self._spawn(rng, ["/usr/bin/id", m]), lambda f: f["proc.cmdline"] == f"id {m}")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "id"

    def test_reverse_shell_from_web_server(self, rng):
        m = marker()
        cmd = f"true /dev/tcp/127.0.0.1/9 {m}"
        a = rng.expect("Reverse Shell from Web Server", self._spawn(rng, ["/bin/sh", "-c", cmd]),
                       lambda f: f["proc.cmdline"] == f"sh -c {cmd}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "nginx"


class TestNetworkRules:
    """Connections over ::1 (not 127.0.0.0/8, not RFC 1918: the rules' own notion of remote)."""

    @staticmethod
    def _listener() -> socket.socket:
        srv = socket.socket(socket.AF_INET6)
        srv.bind(("::1", 0))
        srv.listen(16)
        srv.settimeout(10)
        return srv

    def _connect_as(self, rng, name: str, srv: socket.socket):
        port = srv.getsockname()[1]
        code = f"import socket; socket.create_connection(('::1', {port})).close()"

        def attack():
            run([rng.python_as(name), "-c", code])
            srv.accept()[0].close()
        return attack

    def test_system_procs_network_activity(self, rng):
        with self._listener() as srv:
            port = srv.getsockname()[1]
            a = rng.expect("System procs network activity", self._connect_as(rng, "sleep", srv),
                           lambda f: f["proc.name"] == "sleep" and f["fd.rport"] == port)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "connect"
        assert a["output_fields"]["fd.l4proto"] == "tcp"

    def test_interpreted_procs_outbound(self, rng):
        with self._listener() as srv:
            port = srv.getsockname()[1]
            a = rng.expect("Interpreted procs outbound network activity",
                           self._connect_as(rng, "python3", srv),
                           lambda f: f["fd.rport"] == port and f["evt.type"] == "connect")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "python3"

    def test_interpreted_procs_inbound(self, rng):
        port = 0
        code = ("import socket; s = socket.socket(socket.AF_INET6); s.bind(('::1', 0)); s.listen(1); "
                "socket.create_connection(s.getsockname()[:2]).close(); s.accept()[0].close(); "
                "print(s.getsockname()[1])")

        def attack():
            nonlocal port
            port = int(run([rng.python_as("python3"), "-c", code]).stdout)
        a = rng.expect("Interpreted procs inbound network activity", attack,
                       lambda f: f["fd.name"].endswith(f"->::1:{port}")
                       and f["evt.type"] in ("accept", "accept4"))
        assert a is not None
        assert a["output_fields"]["fd.l4proto"] == "tcp"

    def test_unexpected_inbound_connection_source(self, rng):
        with self._listener() as srv:
            port = srv.getsockname()[1]
            a = rng.expect("Unexpected inbound connection source", self._connect_as(rng, "client", srv),
                           lambda f: f["fd.name"].endswith(f"->::1:{port}")
                           and f["evt.type"] in ("accept", "accept4"))
        assert a is not None
        assert a["output_fields"]["fd.l4proto"] == "tcp"

    def test_unexpected_udp_traffic(self, rng):
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
            udp.bind(("::1", 0))
            port = udp.getsockname()[1]
            code = f"import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).connect(('::1', {port}))"
            a = rng.expect("Unexpected UDP Traffic", lambda: run([rng.python_as("udpc"), "-c", code]),
                           lambda f: f["fd.rport"] == port)
        assert a is not None
        assert a["output_fields"]["fd.l4proto"] == "udp"
        assert a["output_fields"]["proc.name"] == "udpc"

    def test_java_class_file_download(self, rng):
        with self._listener() as srv:
            port = srv.getsockname()[1]
            code = f"import socket; s = socket.create_connection(('::1', {port})); s.recv(64)"

            def attack():
                p = subprocess.Popen([rng.python_as("java"), "-c", code])
                conn = srv.accept()[0]
                conn.sendall(b"\xca\xfe\xba\xbe\x00\x00\x00\x34")
                p.wait(timeout=30)
                conn.close()
            a = rng.expect("Java Process Class File Download", attack,
                           lambda f: f["fd.sport"] == port)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "recvfrom"
        assert a["output_fields"]["proc.name"] == "java"


class TestKernelInterfaceRules:
    """setns, setuid, bpf and userfaultfd called by host processes."""

    def test_change_thread_namespace(self, rng):
        m = marker()
        code = (f"import ctypes, os  # {m}\n"
                "ctypes.CDLL(None).setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)")
        a = rng.expect("Change thread namespace", lambda: run([rng.python_as("nsjoin"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "setns"

    def test_non_sudo_setuid(self, rng):
        m = marker()
        code = f"import os  # {m}\nos.setuid(1); os.setuid(1)"   # daemon, then daemon again
        a = rng.expect("Non sudo setuid", lambda: run([rng.python_as("setuider"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["user.uid"] == 1
        assert a["output_fields"]["user.name"] == "daemon"
        assert a["output_fields"]["evt.arg.uid"] == "daemon"

    def test_bpf_program_not_profiled(self, rng):
        m = marker()
        code = (f"import ctypes  # {m}\n"
                "b = ctypes.create_string_buffer(128); ctypes.CDLL(None).syscall(321, 5, b, 128)")
        a = rng.expect("BPF Program Not Profiled", lambda: run([rng.python_as("bpfload"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["evt.arg.cmd"] == "BPF_PROG_LOAD"

    def test_unprivileged_userfaultfd(self, rng):
        m = marker()
        # UFFD_USER_MODE_ONLY: allowed without privilege whatever vm.unprivileged_userfaultfd says
        code = (f"import ctypes, os  # {m}\n"
                "os.setuid(65534); assert ctypes.CDLL(None).syscall(323, 0o2000000 | 1) >= 0")
        a = rng.expect("Unprivileged Delegation of Page Faults Handling to a Userspace Process",
                       lambda: run([rng.python_as("uffd"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["user.uid"] == 65534
        assert a["output_fields"]["evt.type"] == "userfaultfd"
