"""Real attacks on this host raise Falco's incubating and sandbox rules through `falcolib run`.

The three official rule files run unmodified on the live eBPF backend with a tuning file of
the kind a Falco user writes (live_attacks.TUNE: the sandbox's disabled rules enabled, the
template lists filled) and rule_matching=all, so that no earlier rule hides a later one.
Each test performs one attack for real and checks the alert's fields that identify it.
Files below system directories are written in a private mount namespace on a tmpfs: the
paths are the real ones, the host's files are untouched. Rules that do not fire yet are
xfail(strict) with the cause.
"""
from __future__ import annotations

import os
import pty
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from .conftest import Monitor
from .live_attacks import (API_SOCKET, K8S_NS, OFFICIAL, RULES, TUNE, Range, busybox_image,
                           container, run)

pytestmark = pytest.mark.live


def _marker() -> str:
    return uuid.uuid4().hex[:10]


def _need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing or not os.path.exists("/usr/sbin/runc"):
        msg = f"{', '.join(missing) or 'runc'} needed (scripts/setup-host installs them)"
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="module")
def podman_api():
    """The podman API service (container name, image, labels, mounts, privilege), if podman is here."""
    if not shutil.which("podman") or os.path.exists(API_SOCKET):
        yield
        return
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{API_SOCKET}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(API_SOCKET):
            break
        time.sleep(0.1)
    yield
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def rng(tmp_path_factory, podman_api):
    work = tmp_path_factory.mktemp("attacks")
    tune = work / "tune.yaml"
    tune.write_text(TUNE)
    mon = Monitor(*(RULES / f for f in OFFICIAL), tune, extra=("--set", "rule_matching=all"))
    r = Range(mon, work)
    r.sync()
    yield r
    err = mon.stop()
    assert mon.proc.returncode == 0, err


@pytest.fixture(scope="module")
def boxes(rng, tmp_path_factory):
    """The container attacks, run once: {"main" | "net" | "tar" | "priv": container id}."""
    _need("podman", "gcc", "busybox")
    tmp = tmp_path_factory.mktemp("containers")
    image = busybox_image(tmp)
    host = tmp / "hostdir"
    host.mkdir()
    (host / "secret").write_text("s\n")
    (host / "payload").write_text("aGk=\n")
    main = ["/bin/unshare", "-U", "/bin/true", "--", "/bin/apk", "--",
            "/bin/nc", "-w", "1", "127.0.0.1", "9", "--", "/bin/rsync", "--",
            "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9/", "--", "/bin/kubectl", "--",
            "/bin/cat", "/proc/1/environ", "--", "/bin/base64", "-d", "/host/payload", "--",
            "/bin/cp", "/bin/busybox", "/tmp/dropped", "--", "/bin/chmod", "755", "/tmp/dropped", "--",
            "/bin/sh", "-c", "echo x > /proc/self/fd/1", "--", "/bin/npm", "--",
            "/bin/cat", "/dev/sdz", "--", "/bin/cat", "/host/secret"]
    ids = {
        "main": container(image, tmp / "main", "/bin/xrun", *main,
                          opts=("-v", f"{host}:/host:ro", "--device", "/dev/null:/dev/sdz")),
        "net": container(image, tmp / "net", "/bin/xrun",
                         "/bin/ip", "addr", "add", "169.254.169.254/32", "dev", "lo", "--",
                         "/bin/xrun", "-udp", "169.254.169.254", "80", "--",
                         "/bin/xrun", "-udp", "169.254.169.254", "31000",
                         opts=("--cap-add", "NET_ADMIN", "--label",
                               f"io.kubernetes.pod.namespace={K8S_NS}")),
        "tar": container(image, tmp / "tar", "/bin/tar", "-cf", "/dev/null", "/bin/busybox"),
        "priv": container(image, tmp / "priv", "/bin/mount", "-t", "tmpfs", "none", "/mnt",
                          opts=("--privileged", "-v", "/proc:/hostproc:ro")),
    }
    rng.sync()
    return ids


def _in(boxes, which: str, rule: str, rng, where=lambda f: True) -> dict:
    hits = rng.alerts(rule, lambda f: f.get("container.id") == boxes[which] and where(f))
    assert hits, f"no alert of {rule!r} from container {which} ({boxes[which]})"
    return hits[0]["output_fields"]


class TestHostProcessRules:
    """Rules on what a host process is named, runs with, or spawns."""

    def test_schedule_cron_jobs(self, rng):
        m = _marker()
        a = rng.expect("Schedule Cron Jobs", lambda: run([rng.named("crontab"), m]),
                       lambda f: f["proc.cmdline"] == f"crontab {m}")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "crontab"
        assert a["output_fields"]["evt.type"] == "execve"

    def test_db_program_spawned_process(self, rng):
        m = _marker()
        code = f"import subprocess; subprocess.run(['/bin/true', '{m}'])"
        a = rng.expect("DB program spawned process", lambda: run([rng.python_as("mysqld"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"true {m}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "mysqld"

    def test_disallowed_http_proxy_env(self, rng):
        m = _marker()
        a = rng.expect("Program run with disallowed http proxy env",
                       lambda: run([rng.named("curl"), m], env={"HTTP_PROXY": "http://127.0.0.1:9"}),
                       lambda f: f["proc.cmdline"] == f"curl {m}")
        assert a is not None
        assert "HTTP_PROXY=http://127.0.0.1:9" in a["output_fields"]["proc.env"]

    def test_user_mgmt_binaries(self, rng):
        m = _marker()
        a = rng.expect("User mgmt binaries", lambda: run([rng.named("groupmems"), m]),
                       lambda f: f["proc.cmdline"] == f"groupmems {m}")
        assert a is not None
        assert a["output_fields"]["container.id"] == "host"

    def test_network_tool_on_host(self, rng):
        m = _marker()
        a = rng.expect("Launch Suspicious Network Tool on Host", lambda: run([rng.named("nc"), m]),
                       lambda f: f["proc.cmdline"] == f"nc {m}")
        assert a is not None
        assert a["output_fields"]["proc.exepath"] == rng.named("nc")

    def test_netcat_remote_code_execution_on_host(self, rng):
        m = _marker()
        a = rng.expect("Netcat/Socat Remote Code Execution on Host",
                       lambda: run([rng.named("nc"), "-e", "/bin/true", m]),
                       lambda f: f["proc.cmdline"] == f"nc -e /bin/true {m}")
        assert a is not None
        assert a["priority"] == "Warning"

    def test_glibc_tunables_env(self, rng):
        m = _marker()
        a = rng.expect("Potential Local Privilege Escalation via Environment Variables Misuse",
                       lambda: run(["/bin/true", m], env={"GLIBC_TUNABLES": "glibc.malloc.check=1"}),
                       lambda f: f["proc.cmdline"] == f"true {m}")
        assert a is not None
        assert "GLIBC_TUNABLES=glibc.malloc.check=1" in a["output_fields"]["proc.env"]

    def test_stratum_miner(self, rng):
        m = _marker()
        a = rng.expect("Detect crypto miners using the Stratum protocol",
                       lambda: run(["/bin/true", f"stratum+tcp://{m}:3333"]),
                       lambda f: f["proc.cmdline"] == f"true stratum+tcp://{m}:3333")
        assert a is not None
        assert a["priority"] == "Critical"

    def test_sudoedit_escalation(self, rng):
        m = _marker()
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
        m = _marker()
        a = rng.expect("Known Cryptominer Process Executed", lambda: run([rng.named("xmrig"), m]),
                       lambda f: f["proc.cmdline"] == f"xmrig {m}")
        assert a is not None
        assert a["output_fields"]["proc.exepath"] == rng.named("xmrig")

    def test_interactive_reconnaissance(self, rng):
        m = _marker()

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
        m = _marker()
        a = rng.expect("Web Server Spawned Shell", self._spawn(rng, ["/bin/sh", "-c", f"true {m}"]),
                       lambda f: f["proc.cmdline"] == f"sh -c true {m}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "nginx"

    def test_web_server_suspicious_child(self, rng):
        m = _marker()
        a = rng.expect("Web Server Spawned Suspicious Child Process",
                       self._spawn(rng, ["/usr/bin/id", m]), lambda f: f["proc.cmdline"] == f"id {m}")
        assert a is not None
        assert a["output_fields"]["proc.name"] == "id"

    def test_reverse_shell_from_web_server(self, rng):
        m = _marker()
        cmd = f"true /dev/tcp/127.0.0.1/9 {m}"
        a = rng.expect("Reverse Shell from Web Server", self._spawn(rng, ["/bin/sh", "-c", cmd]),
                       lambda f: f["proc.cmdline"] == f"sh -c {cmd}")
        assert a is not None
        assert a["output_fields"]["proc.pname"] == "nginx"


class TestHostFileRules:
    """Files written, read, renamed, chmod-ed by host processes."""

    def test_modify_shell_configuration_file(self, rng):
        path = rng.work / _marker() / ".bashrc"
        path.parent.mkdir()
        a = rng.expect("Modify Shell Configuration File", lambda: path.open("a").close(),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_read_shell_configuration_file(self, rng):
        path = rng.work / _marker() / ".zshrc"
        path.parent.mkdir()
        path.write_text("")
        a = rng.expect("Read Shell Configuration File", lambda: path.open().close(),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None

    def test_delete_shell_history(self, rng):
        path = rng.work / _marker() / ".bash_history"
        path.parent.mkdir()

        def attack():
            path.write_text("history\n")
            os.rename(path, path.with_suffix(".old"))
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.oldpath"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_set_setuid_bit(self, rng):
        path = rng.work / f"suid{_marker()}"
        path.write_text("")
        a = rng.expect("Set Setuid or Setgid bit", lambda: os.chmod(path, 0o4755),
                       lambda f: f["evt.arg.filename"] == str(path))
        assert a is not None
        assert "S_ISUID" in a["output_fields"]["evt.arg.mode"]

    def test_create_hidden_directory(self, rng):
        path = rng.work / f".hidden{_marker()}"
        code = f"import os; os.makedirs({str(path)!r}, exist_ok=True)"
        a = rng.expect("Create Hidden Files or Directories",
                       lambda: run([rng.python_as("hider"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"hider -c {code}")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "mkdir"

    def test_sshd_loads_backdoored_liblzma(self, rng):
        lib = rng.work / _marker() / "liblzma.so.5.6.1"
        lib.parent.mkdir()
        lib.write_text("")
        a = rng.expect("Backdoored library loaded into SSHD (CVE-2024-3094)",
                       lambda: run([rng.python_as("sshd"), "-c", f"open({str(lib)!r}).close()"]),
                       lambda f: f["fd.name"] == str(lib))
        assert a is not None
        assert a["output_fields"]["proc.name"] == "sshd"

    def test_create_file_below_dev(self, rng):
        path = f"/dev/falcolib-{_marker()}"
        a = rng.expect("Create files below dev", lambda: rng.in_tmpfs("/dev", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["proc.name"] == "fsprobe"

    def test_read_ssh_information(self, rng):
        key = f"/home/falcolib-{_marker()}/.ssh/id_ed25519"
        a = rng.expect("Read ssh information",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{os.path.dirname(key)}",
                                            f"write:{key}", f"read:{key}"),
                       lambda f: f["fd.name"] == key)
        assert a is not None

    def test_adding_ssh_authorized_keys(self, rng):
        keys = f"/home/falcolib-{_marker()}/.ssh/authorized_keys"
        a = rng.expect("Adding ssh keys to authorized_keys",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{os.path.dirname(keys)}", f"write:{keys}"),
                       lambda f: f["fd.name"] == keys)
        assert a is not None

    def test_write_below_monitored_dir(self, rng):
        path = f"/usr/local/bin/falcolib-{_marker()}"
        a = rng.expect("Write below monitored dir", lambda: rng.in_tmpfs("/usr/local/bin", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_update_package_repository(self, rng):
        path = f"/etc/apt/sources.list.d/falcolib-{_marker()}.list"
        a = rng.expect("Update Package Repository",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/apt/sources.list.d", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_binary_dir(self, rng):
        path = f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Write below binary dir", lambda: rng.in_tmpfs("/usr/bin", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_etc(self, rng):
        path = f"/etc/falcolib-{_marker()}.conf"
        a = rng.expect("Write below etc", lambda: rng.in_tmpfs("/etc", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["proc.name"] == "fsprobe"

    def test_write_below_root(self, rng):
        path = f"/root/falcolib-{_marker()}"
        a = rng.expect("Write below root", lambda: rng.in_tmpfs("/root", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_rpm_database(self, rng):
        path = f"/var/lib/rpm/falcolib-{_marker()}"
        a = rng.expect("Write below rpm database",
                       lambda: rng.in_tmpfs("/var/lib", "mkdir:/var/lib/rpm", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_modify_binary_dirs(self, rng):
        old, new = f"/usr/bin/falcolib-{_marker()}", f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{old}", f"rename:{old}:{new}"),
                       lambda f: f"{old}" in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_mkdir_binary_dirs(self, rng):
        path = f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", f"mkdir:{path}"),
                       lambda f: f["evt.arg.path"] == path)
        assert a is not None


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
        assert a["output_fields"]["proc.name"] in ("python3", "pytest")

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
        m = _marker()
        code = (f"import ctypes, os  # {m}\n"
                "ctypes.CDLL(None).setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)")
        a = rng.expect("Change thread namespace", lambda: run([rng.python_as("nsjoin"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "setns"

    def test_non_sudo_setuid(self, rng):
        m = _marker()
        code = f"import os  # {m}\nos.setuid(1); os.setuid(1)"   # daemon, then daemon again
        a = rng.expect("Non sudo setuid", lambda: run([rng.python_as("setuider"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["user.uid"] == 1
        assert a["output_fields"]["user.name"] == "daemon"
        assert a["output_fields"]["evt.arg.uid"] == "daemon"

    @pytest.mark.xfail(strict=True, reason=(
        "no bpf event carries cmd: the probe's bpf exit writes only res_or_fd (current libs' "
        "PPME_SYSCALL_BPF_2_X is res_or_fd, cmd) and a live run gets no bpf enter event "
        "(PPME_SYSCALL_BPF_2_E, cmd), so evt.arg.cmd=5 never holds"))
    def test_bpf_program_not_profiled(self, rng):
        m = _marker()
        code = (f"import ctypes  # {m}\n"
                "b = ctypes.create_string_buffer(128); ctypes.CDLL(None).syscall(321, 5, b, 128)")
        a = rng.expect("BPF Program Not Profiled", lambda: run([rng.python_as("bpfload"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["evt.arg.cmd"] in ("5", "BPF_PROG_LOAD")

    def test_unprivileged_userfaultfd(self, rng):
        m = _marker()
        # UFFD_USER_MODE_ONLY: allowed without privilege whatever vm.unprivileged_userfaultfd says
        code = (f"import ctypes, os  # {m}\n"
                "os.setuid(65534); assert ctypes.CDLL(None).syscall(323, 0o2000000 | 1) >= 0")
        a = rng.expect("Unprivileged Delegation of Page Faults Handling to a Userspace Process",
                       lambda: run([rng.python_as("uffd"), "-c", code]),
                       lambda f: m in f["proc.cmdline"])
        assert a is not None
        assert a["output_fields"]["user.uid"] == 65534
        assert a["output_fields"]["evt.type"] == "userfaultfd"


class TestContainerRules:
    """Attacks inside podman containers (runc, local busybox image)."""

    def test_unshare_without_cap_sys_admin(self, rng, boxes):
        f = _in(boxes, "main", "Change namespace privileges via unshare", rng)
        assert f["proc.cmdline"] == "unshare -U /bin/true"
        assert f["evt.type"] == "unshare"

    def test_package_management_process(self, rng, boxes):
        f = _in(boxes, "main", "Launch Package Management Process in Container", rng,
                lambda f: f["proc.name"] == "apk")
        assert f["proc.exepath"] == "/bin/busybox"   # the symlink resolved

    def test_network_tool_in_container(self, rng, boxes):
        f = _in(boxes, "main", "Launch Suspicious Network Tool in Container", rng,
                lambda f: f["proc.pname"] == "xrun")
        assert f["proc.cmdline"] == "nc -w 1 127.0.0.1 9"

    def test_remote_file_copy_tool(self, rng, boxes):
        f = _in(boxes, "main", "Launch Remote File Copy Tools in Container", rng)
        assert f["proc.name"] == "rsync"

    def test_ingress_remote_file_copy_tool(self, rng, boxes):
        f = _in(boxes, "main", "Launch Ingress Remote File Copy Tools in Container", rng)
        assert f["proc.cmdline"] == "wget -q -O /dev/null http://127.0.0.1:9/"

    def test_kubernetes_client_tool(self, rng, boxes):
        f = _in(boxes, "main", "Kubernetes Client Tool Launched in Container", rng)
        assert f["proc.name"] == "kubectl"

    def test_read_environ_from_proc(self, rng, boxes):
        f = _in(boxes, "main", "Read environment variable from /proc files", rng)
        assert f["fd.name"] == "/proc/1/environ"
        assert f["proc.name"] == "cat"

    def test_decoding_payload(self, rng, boxes):
        f = _in(boxes, "main", "Decoding Payload in Container", rng, lambda f: f["proc.name"] == "base64")
        assert f["proc.cmdline"] == "base64 -d /host/payload"

    def test_drift_chmod(self, rng, boxes):
        f = _in(boxes, "main", "Container Drift Detected (chmod)", rng, lambda f: f["proc.name"] == "chmod")
        assert f["evt.arg.filename"] == "/tmp/dropped"
        assert "S_IXUSR" in f["evt.arg.mode"]

    def test_drift_open_create(self, rng, boxes):
        f = _in(boxes, "main", "Container Drift Detected (open+create)", rng,
                lambda f: f["proc.name"] == "cp")
        assert f["evt.arg.name"] == "/tmp/dropped"

    def test_modify_container_entrypoint(self, rng, boxes):
        f = _in(boxes, "main", "Modify Container Entrypoint", rng)
        assert f["fd.name"] == "/proc/self/fd/1"
        assert f["proc.name"] == "sh"

    def test_network_tool_during_npm_install(self, rng, boxes):
        f = _in(boxes, "main", "Network Tool Executed During NPM Package Install", rng)
        assert f["proc.name"] == "nc"
        assert f["proc.aname[2]"] == "npm"

    def test_block_device_access(self, rng, boxes):
        f = _in(boxes, "main", "Privileged Container Device Access", rng)
        assert f["fd.name"] == "/dev/sdz"

    def test_host_sensitive_paths(self, rng, boxes):
        f = _in(boxes, "main", "Container Access to Host Sensitive Paths", rng,
                lambda f: f["proc.name"] == "cat")
        assert f["fd.name"] == "/host/secret"

    def test_run_as_root(self, rng, boxes):
        f = _in(boxes, "main", "Container Run as Root User", rng)
        assert f["proc.name"] == "xrun"
        assert f["user.uid"] == 0

    def test_disallowed_container(self, rng, boxes):
        f = _in(boxes, "main", "Launch Disallowed Container", rng)
        assert f["proc.name"] == "xrun"

    def test_excessively_capable_container(self, rng, boxes):
        f = _in(boxes, "net", "Launch Excessively Capable Container", rng)
        assert "CAP_NET_ADMIN" in f["thread.cap_permitted"].split()
        assert "CAP_SYS_ADMIN" not in f["thread.cap_permitted"].split()

    def test_ec2_metadata_service(self, rng, boxes):
        f = _in(boxes, "net", "Contact EC2 Instance Metadata Service From Container", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["fd.l4proto"] == "udp"
        assert f["proc.cmdline"] == "xrun -udp 169.254.169.254 80"

    def test_cloud_metadata_service(self, rng, boxes):
        f = _in(boxes, "net", "Contact cloud metadata service from container", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["evt.type"] == "connect"

    def test_k8s_nodeport_connection(self, rng, boxes):
        f = _in(boxes, "net", "Unexpected K8s NodePort Connection", rng)
        assert f["fd.name"].endswith("->169.254.169.254:31000")
        assert f["evt.type"] == "connect"

    def test_exfiltration_by_tar(self, rng, boxes):
        f = _in(boxes, "tar", "Exfiltrating Artifacts via Kubernetes Control Plane", rng)
        assert f["fd.name"] == "/bin/busybox"
        assert f["proc.tty"] == 0

    def test_network_outside_local_subnet(self, rng, boxes):
        f = _in(boxes, "net", "Network Connection outside Local Subnet", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["fd.l4proto"] == "udp"

    def test_privileged_container(self, rng, boxes):
        f = _in(boxes, "priv", "Launch Privileged Container", rng)
        assert f["proc.name"] == "mount"

    def test_mount_in_privileged_container(self, rng, boxes):
        f = _in(boxes, "priv", "Mount Launched in Privileged Container", rng)
        assert f["proc.cmdline"] == "mount -t tmpfs none /mnt"

    def test_sensitive_mount_container(self, rng, boxes):
        f = _in(boxes, "priv", "Launch Sensitive Mount Container", rng)
        assert "/proc:/hostproc" in f["container.mounts"]


class TestOtherSyscalls:
    """The same rules reached through the other syscalls their conditions name (real tools use them)."""

    def test_setuid_bit_by_chmod_tool(self, rng):
        path = rng.work / f"suid{_marker()}"
        path.write_text("")
        a = rng.expect("Set Setuid or Setgid bit", lambda: run(["chmod", "u+s,g+s", str(path)]),
                       lambda f: f["evt.arg.filename"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "fchmodat"
        assert "S_ISGID" in a["output_fields"]["evt.arg.mode"]

    def test_setuid_bit_by_fchmod(self, rng):
        path = rng.work / f"suid{_marker()}"
        path.write_text("")
        code = f"import os; os.fchmod(os.open({str(path)!r}, os.O_RDONLY), 0o2755)"
        a = rng.expect("Set Setuid or Setgid bit", lambda: run([rng.python_as("fchmoder"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"fchmoder -c {code}")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "fchmod"
        assert "S_ISGID" in a["output_fields"]["evt.arg.mode"]

    def test_shell_history_removed_by_rm(self, rng):
        path = rng.work / _marker() / ".zsh_history"
        path.parent.mkdir()

        def attack():
            path.write_text("")
            run(["rm", "-f", str(path)])
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.name"] == str(path) and f["proc.name"] == "rm")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "unlinkat"

    def test_shell_history_moved_by_mv(self, rng):
        path = rng.work / _marker() / ".bash_history"
        path.parent.mkdir()

        def attack():
            path.write_text("")
            run(["mv", str(path), str(path.parent / "gone")])
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.oldpath"] == str(path) and f["proc.name"] == "mv")
        assert a is not None
        assert a["output_fields"]["evt.type"] in ("renameat2", "rename", "renameat")

    def test_shell_history_truncated(self, rng):
        path = rng.work / _marker() / ".bash_history"
        path.parent.mkdir()
        path.write_text("ls\n")
        code = f"open({str(path)!r}, 'w').close()"   # O_TRUNC: truncate_shell_history
        a = rng.expect("Delete or rename shell history", lambda: run([rng.python_as("wiper"), "-c", code]),
                       lambda f: f["fd.name"] == str(path) and f["proc.name"] == "wiper")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_binary_dir_file_removed_by_unlinkat(self, rng):
        path = f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{path}", f"unlinkat:{path}"),
                       lambda f: path in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "unlinkat"

    def test_binary_dir_file_moved_by_renameat2(self, rng):
        old, new = f"/usr/bin/falcolib-{_marker()}", f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{old}", f"renameat2:{old}:{new}"),
                       lambda f: old in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "renameat2"

    def test_binary_dir_mkdirat(self, rng):
        path = f"/usr/bin/falcolib-{_marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", f"mkdirat:{path}"),
                       lambda f: f["evt.arg.path"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "mkdirat"

    def test_binary_dir_relative_rename(self, rng):
        old, new = f"falcolib-{_marker()}", f"falcolib-{_marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", "chdir:/usr/bin", f"write:{old}",
                                            f"rename:{old}:{new}"),
                       lambda f: f["evt.type"] == "rename" and old in f["evt.args"])
        assert a is not None

    def test_binary_dir_relative_mkdir(self, rng):
        name = f"falcolib-{_marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", "chdir:/usr/bin", f"mkdir:{name}"),
                       lambda f: f["evt.arg.path"] == f"/usr/bin/{name}")
        assert a is not None

    def test_file_below_dev_by_openat2(self, rng):
        path = f"/dev/falcolib-{_marker()}"
        a = rng.expect("Create files below dev", lambda: rng.in_tmpfs("/dev", f"openat2:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat2"

    def test_cron_file_written(self, rng):
        path = f"/etc/cron.d/falcolib-{_marker()}"
        a = rng.expect("Schedule Cron Jobs",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/cron.d", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_ssh_directory_listed(self, rng):
        ssh = f"/home/falcolib-{_marker()}/.ssh/keys"
        a = rng.expect("Read ssh information",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{ssh}", f"listdir:{ssh}"),
                       lambda f: f["fd.name"] == ssh)
        assert a is not None

    def test_repository_renamed_into_place(self, rng):
        tmp, final = "/etc/apt/new.tmp", f"/etc/apt/sources.list.d/falcolib-{_marker()}.list"
        a = rng.expect("Update Package Repository",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/apt/sources.list.d", f"write:{tmp}",
                                            f"rename:{tmp}:{final}"),
                       lambda f: f["evt.arg.newpath"] == final)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_hidden_file_renamed(self, rng):
        src = rng.work / f"plain{_marker()}"
        dst = rng.work / f".{src.name}"
        src.write_text("")
        a = rng.expect("Create Hidden Files or Directories", lambda: run(["mv", str(src), str(dst)]),
                       lambda f: f["evt.arg.newpath"] == str(dst))
        assert a is not None

    def test_hidden_file_created(self, rng):
        path = rng.work / f".dot{_marker()}"
        a = rng.expect("Create Hidden Files or Directories", lambda: run(["touch", str(path)]),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None
        assert a["output_fields"]["proc.name"] == "touch"
