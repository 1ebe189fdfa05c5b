"""Real attacks on this host raise the official Falco rules' alerts through `falcolib run`.

The official rule files from ../shared/rules run unmodified on the live eBPF backend;
each test performs the attack for real and waits for the alert with the right fields.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from .conftest import module_monitor, require_podman

pytestmark = pytest.mark.live
RULES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "rules").resolve()
PODMAN = ["podman", "run", "--rm", "--runtime", "/usr/sbin/runc", "--ulimit", "nofile=1024:1024",
          "--ulimit", "nproc=1024:1024", "--network", "none"]


monitor = module_monitor(RULES / "falco_rules.yaml")


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, timeout=60, **kw)


class TestOfficialRulesLive:
    """Each attack raises its rule, with the process, file and container fields right."""

    def test_untrusted_program_reads_shadow(self, monitor, tmp_path):
        reader = tmp_path / f"rdr{uuid.uuid4().hex[:6]}"
        shutil.copy("/bin/cat", reader)
        alert = monitor.wait_for("Read sensitive file untrusted",
                                 lambda: run([str(reader), "/etc/shadow"]),
                                 where=lambda f: f["proc.name"] == reader.name)
        f = alert["output_fields"]
        assert f["fd.name"] == "/etc/shadow"
        assert f["proc.name"] == reader.name
        assert alert["priority"] == "Warning"

    def test_web_server_spawns_shell(self, monitor, tmp_path):
        nginx = tmp_path / "nginx"
        os.symlink(sys.executable, nginx)  # a process whose name is nginx
        code = "import subprocess; subprocess.run(['/bin/sh', '-c', 'true'])"
        alert = monitor.wait_for("Run shell untrusted", lambda: run([str(nginx), "-c", code]),
                                 where=lambda f: f["proc.pname"] == "nginx")
        f = alert["output_fields"]
        assert f["proc.pname"] == "nginx"
        assert f["proc.name"] == "sh"
        assert f["proc.cmdline"] == "sh -c true"

    def test_symlink_over_shadow(self, monitor, tmp_path):
        links: list[str] = []

        def attack():
            link = tmp_path / f"s{uuid.uuid4().hex[:6]}"
            os.symlink("/etc/shadow", link)
            links.append(str(link))
        alert = monitor.wait_for("Create Symlink Over Sensitive Files", attack,
                                 where=lambda f: f.get("evt.arg.linkpath") in links)
        f = alert["output_fields"]
        assert f["evt.arg.target"] == "/etc/shadow"
        assert f["proc.name"] == Path(f"/proc/{os.getpid()}/comm").read_text().strip()

    def test_terminal_shell_in_container(self, monitor, tmp_path):
        require_podman()
        image = _busybox_image(tmp_path)
        ids: list[str] = []

        def attack():
            cidfile = tmp_path / f"cid{len(ids)}"
            run([*PODMAN, "--cidfile", str(cidfile), "-t", image, "/bin/sh", "-c", "echo hi"])
            ids.append(cidfile.read_text().strip())
        alert = monitor.wait_for("Terminal shell in container", attack, timeout=120,
                                 where=lambda f: f["container.id"] in {i[:12] for i in ids})
        f = alert["output_fields"]
        assert f["proc.name"] == "sh"
        assert f["container.id"] in {i[:12] for i in ids}
        assert f["proc.tty"] != 0


def _busybox_image(tmp_path: Path) -> str:
    image = "localhost/falcolib-busybox:official"
    if run(["podman", "image", "exists", image]).returncode == 0:
        return image
    busybox = shutil.which("busybox") or "/bin/busybox"
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "etc").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "echo", "cat"):
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname=".")
    subprocess.run(["podman", "import", "-q", str(tar), image], check=True, capture_output=True,
                   timeout=120)
    return image
