"""Every stable official rule that this host can be attacked for raises its alert live.

``falco_rules.yaml`` runs unmodified on the eBPF backend; each test performs the attack
for real (files, processes, sockets, ptrace, kernel module loading, containers) and waits
for the rule's alert carrying this test's own process, file or container. Four rules are
in test_live_official.py; "Contact K8S API Server From Container" needs a Kubernetes
service name resolved by DNS and cannot be attacked here.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from .conftest import connect_code, module_monitor, python_named, require_podman
from .test_live_official import PODMAN, RULES, _busybox_image, run

pytestmark = pytest.mark.live


monitor = module_monitor(RULES / "falco_rules.yaml")


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    require_podman()
    return _busybox_image(tmp_path_factory.mktemp("img"))


def _token() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def open_dir():
    """A directory any user can reach (pytest's tmp_path is under a 0700 directory)."""
    d = Path(tempfile.mkdtemp(prefix="falcolib-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class TestHostRules:
    """Attacks on the host itself."""

    def test_directory_traversal_read(self, monitor, tmp_path):
        token = _token()
        deep = tmp_path / token
        deep.mkdir()
        raw = str(deep) + "/.." * len(deep.parts[1:]) + "/etc/passwd"
        code = f"open({raw!r}).read()"
        alert = monitor.wait_for("Directory traversal monitored file read",
                                 lambda: run([sys.executable, "-c", code]),
                                 where=lambda f: f.get("fd.nameraw") == raw)
        assert alert["output_fields"]["fd.name"] == "/etc/passwd"
        assert alert["priority"] == "Warning"

    def test_search_private_keys(self, monitor):
        token = _token()
        alert = monitor.wait_for("Search Private Keys or Passwords",
                                 lambda: run(["find", f"/nonexistent-{token}", "-name", "id_rsa"]),
                                 where=lambda f: token in f["proc.cmdline"])
        assert alert["output_fields"]["proc.name"] == "find"

    def test_find_aws_credentials(self, monitor):
        token = _token()
        alert = monitor.wait_for(
            "Find AWS Credentials",
            lambda: run(["find", f"/nonexistent-{token}", "-path", "*/.aws/credentials"]),
            where=lambda f: token in f["proc.cmdline"])
        assert alert["output_fields"]["proc.name"] == "find"

    def test_clear_log(self, monitor):
        path = f"/var/log/falcolib-{_token()}.log"
        try:
            def attack():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            alert = monitor.wait_for("Clear Log Activities", attack,
                                     where=lambda f: f["fd.name"] == path)
        finally:
            Path(path).unlink(missing_ok=True)
        assert alert["priority"] == "Warning"

    def test_remove_bulk_data(self, monitor, tmp_path):
        victim = tmp_path / f"v{_token()}"

        def attack():
            victim.write_text("x" * 100)
            run(["shred", "-u", str(victim)])
        alert = monitor.wait_for("Remove Bulk Data from Disk", attack,
                                 where=lambda f: str(victim) in f["proc.cmdline"])
        assert alert["output_fields"]["proc.name"] == "shred"

    def test_hardlink_over_shadow(self, monitor):
        links: list[str] = []

        def attack():
            link = f"/etc/.falcolib-{_token()}"
            links.append(link)
            try:
                os.link("/etc/shadow", link)
            except OSError:
                pass   # the attempt is the event (another filesystem refuses it)
        try:
            alert = monitor.wait_for("Create Hardlink Over Sensitive Files", attack,
                                     where=lambda f: f.get("evt.arg.newpath") in links)
        finally:
            for link in links:
                Path(link).unlink(missing_ok=True)
        assert alert["output_fields"]["evt.arg.oldpath"] == "/etc/shadow"

    def test_ptrace_traceme(self, monitor, tmp_path):
        prog = python_named(tmp_path, f"tm{_token()}")
        code = "import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)"   # PTRACE_TRACEME
        alert = monitor.wait_for("PTRACE anti-debug attempt", lambda: run([str(prog), "-c", code]),
                                 where=lambda f: f["proc.name"] == prog.name)
        assert alert["output_fields"]["evt.type"] == "ptrace"

    def test_ptrace_attach(self, monitor, tmp_path):
        prog = python_named(tmp_path, f"pa{_token()}")
        code = ("import ctypes, subprocess, time\n"
                "p = subprocess.Popen(['sleep', '5'])\n"
                "libc = ctypes.CDLL(None)\n"
                "libc.ptrace(16, p.pid, 0, 0)\n"        # PTRACE_ATTACH
                "time.sleep(0.05)\n"
                "libc.ptrace(17, p.pid, 0, 0)\n"        # PTRACE_DETACH
                "p.kill(); p.wait()\n")
        alert = monitor.wait_for("PTRACE attached to process", lambda: run([str(prog), "-c", code]),
                                 where=lambda f: f["proc.name"] == prog.name)
        assert alert["priority"] == "Warning"

    def test_execution_from_dev_shm(self, monitor):
        d = Path(f"/dev/shm/falcolib-{_token()}")
        d.mkdir()
        try:
            exe = d / "payload"
            shutil.copy("/bin/true", exe)
            alert = monitor.wait_for("Execution from /dev/shm", lambda: run([str(exe)]),
                                     where=lambda f: f["proc.exepath"] == str(exe))
        finally:
            shutil.rmtree(d, ignore_errors=True)
        assert alert["output_fields"]["proc.name"] == "payload"

    def test_ssh_to_non_standard_port(self, monitor, tmp_path):
        ssh = python_named(tmp_path, "ssh")
        token = _token()
        code = connect_code(token, "203.0.113.7", 443)   # TEST-NET-3: never answered
        alert = monitor.wait_for("Disallowed SSH Connection Non Standard Port",
                                 lambda: run([str(ssh), "-c", code]),
                                 where=lambda f: token in f["proc.cmdline"])
        f = alert["output_fields"]
        assert f["fd.rport"] == 443
        assert f["fd.name"].endswith("->203.0.113.7:443")

    def test_fileless_memfd_execution(self, monitor, tmp_path):
        token = _token()
        code = ("import os\nfd = os.memfd_create('m" + token + "')\n"
                "os.write(fd, open('/bin/true', 'rb').read())\n"
                "os.execve(fd, ['x'], {})\n")
        alert = monitor.wait_for("Fileless execution via memfd_create",
                                 lambda: run([sys.executable, "-c", code]),
                                 where=lambda f: f["proc.name"] == "memfd:m" + token)
        assert alert["priority"] == "Critical"
        assert alert["output_fields"]["evt.type"] in ("execve", "execveat")

    def test_system_user_interactive(self, monitor, open_dir):
        login = open_dir / "login"
        shutil.copy("/bin/true", login)
        login.chmod(0o755)
        code = (f"import os, subprocess\nos.setgid(65534)\nos.setuid(65534)\n"
                f"subprocess.run([{str(login)!r}])\n")
        alert = monitor.wait_for("System user interactive", lambda: run([sys.executable, "-c", code]),
                                 where=lambda f: f["proc.exepath"] == str(login))
        f = alert["output_fields"]
        assert f["user.uid"] == 65534
        assert f["user.name"] == "nobody"

    def test_server_reads_shadow_after_startup(self, monitor, tmp_path):
        nginx = python_named(tmp_path, "nginx")
        # a trusted server past its first 5 seconds (proc_is_new)
        token = _token()
        code = f"# {token}\nimport time; time.sleep(5.3); open('/etc/shadow').read()"
        proc = subprocess.Popen([str(nginx), "-c", code])
        try:
            alert = monitor.wait_for("Read sensitive file trusted after startup", lambda: None,
                                     where=lambda f: token in f["proc.cmdline"])
        finally:
            proc.wait(timeout=30)
        assert alert["output_fields"]["fd.name"] == "/etc/shadow"


def _in_container(image, script: str, *extra: str, ids: list[str], tmp_path: Path):
    cidfile = tmp_path / f"cid{_token()}"
    run([*PODMAN, "--cidfile", str(cidfile), *extra, image, "/bin/sh", "-c", script])
    if cidfile.exists():
        ids.append(cidfile.read_text().strip()[:12])


class TestContainerRules:
    """Attacks from inside podman containers (runc), the container named from podman's
    storage: no API service runs."""

    def _attack(self, monitor, rule, image, script, tmp_path, *extra, check=None):
        ids: list[str] = []
        alert = monitor.wait_for(
            rule, lambda: _in_container(image, script, *extra, ids=ids, tmp_path=tmp_path),
            timeout=120, where=lambda f: f["container.id"] in ids and (check is None or check(f)))
        assert alert["output_fields"]["container.name"] not in ("", None, "<NA>")
        return alert["output_fields"]

    def test_netcat_remote_code_execution(self, monitor, image, tmp_path):
        f = self._attack(monitor, "Netcat Remote Code Execution in Container", image,
                         "mkdir -p /t; cp /bin/busybox /t/nc; /t/nc -e /bin/true 127.0.0.1 1; true",
                         tmp_path)
        assert f["proc.name"] == "nc"

    def test_packet_socket(self, monitor, image, tmp_path):
        f = self._attack(monitor, "Packet socket created in container", image,
                         "busybox arping -c 1 -w 1 -I lo 127.0.0.1; true", tmp_path)
        assert f["evt.type"] == "socket"

    def test_redirect_stdio_to_socket(self, monitor, image, tmp_path):
        script = ("(busybox nc -l -p 9999 -e /bin/true &); sleep 0.5; "
                  "busybox nc 127.0.0.1 9999 -e /bin/true; true")
        f = self._attack(monitor, "Redirect STDOUT/STDIN to Network Connection in Container",
                         image, script, tmp_path)
        assert f["fd.type"] == "ipv4"
        assert "127.0.0.1:9999" in f["fd.name"]

    def test_debugfs_in_privileged_container(self, monitor, image, tmp_path):
        f = self._attack(monitor, "Debugfs Launched in Privileged Container", image,
                         "mkdir -p /t; cp /bin/busybox /t/debugfs; /t/debugfs true; true",
                         tmp_path, "--privileged")
        assert f["proc.name"] == "debugfs"

    def test_release_agent_escape(self, monitor, image, tmp_path):
        f = self._attack(monitor, "Detect release_agent File Container Escapes", image,
                         "mkdir -p /t; echo x > /t/release_agent", tmp_path, "--privileged")
        assert f["fd.name"] == "/t/release_agent"
        assert "CAP_SYS_ADMIN" in f["thread.cap_effective"]

    def test_drop_and_execute(self, monitor, image, tmp_path):
        f = self._attack(monitor, "Drop and execute new binary in container", image,
                         "mkdir -p /t; cp /bin/busybox /t/dropped; /t/dropped true", tmp_path,
                         check=lambda f: f["proc.exe"] == "/t/dropped")
        assert f["proc.name"] == "dropped"

    def test_image_binaries_are_not_dropped(self, monitor, image, tmp_path):
        """The image's own busybox runs from the lower layer: no drop alert for it."""
        ids: list[str] = []
        _in_container(image, "/bin/busybox true; /bin/busybox true", ids=ids, tmp_path=tmp_path)
        self._attack(monitor, "Drop and execute new binary in container", image,
                     "mkdir -p /t; cp /bin/busybox /t/dropped2; /t/dropped2 true", tmp_path)
        time.sleep(1)
        assert not [a for a in monitor.alerts
                    if a["rule"] == "Drop and execute new binary in container"
                    and a["output_fields"]["container.id"] in ids]

    def test_kernel_module_injection(self, monitor, image, tmp_path):
        # a kernel without modules fails the call (ENOSYS) but still sees it, as Falco
        f = self._attack(monitor, "Linux Kernel Module Injection Detected", image,
                         "mkdir -p /t; echo not-a-module > /t/x.ko; busybox insmod /t/x.ko; true",
                         tmp_path, "--privileged")
        assert f["evt.type"] in ("init_module", "finit_module")

