"""The README's main job: `falcolib run` with no rules file (the bundled default rules) raises
each of its five alerts when this host is attacked for real."""
from __future__ import annotations

import os
import shutil
import uuid

import pytest

from .conftest import connect_code, module_monitor, python_named, require_podman
from .test_live_official import PODMAN, _busybox_image, run

pytestmark = pytest.mark.live


monitor = module_monitor()          # no --rules: falcolib's default rules


def _token() -> str:
    return uuid.uuid4().hex[:8]


class TestDefaultRulesLive:
    """One real attack per default rule; the alert names this test's own process or file."""

    def test_shell_in_container(self, monitor, tmp_path):
        require_podman()
        image = _busybox_image(tmp_path)
        ids: list[str] = []

        def attack():
            cidfile = tmp_path / f"cid{_token()}"
            run([*PODMAN, "--cidfile", str(cidfile), image, "/bin/sh", "-c", "echo hi"])
            ids.append(cidfile.read_text().strip()[:12])
        alert = monitor.wait_for("Shell Spawned in Container", attack, timeout=120,
                                 where=lambda f: f["container.id"] in ids)
        f = alert["output_fields"]
        assert f["proc.name"] == "sh"
        assert f["container.image.repository"] == image.rpartition(":")[0]
        assert f["container.name"] not in ("", "<NA>", None)
        assert alert["priority"] == "Warning"

    def test_server_spawns_unexpected_child(self, monitor, tmp_path):
        nginx = python_named(tmp_path, "nginx")
        token = _token()
        code = f"import subprocess; subprocess.run(['/bin/ls', '/nonexistent-{token}'])"
        alert = monitor.wait_for("Unexpected Child of Server Process",
                                 lambda: run([str(nginx), "-c", code]),
                                 where=lambda f: token in f["proc.cmdline"])
        f = alert["output_fields"]
        assert (f["proc.pname"], f["proc.name"]) == ("nginx", "ls")
        assert alert["priority"] == "Error"

    def test_sensitive_file_read(self, monitor, tmp_path):
        reader = tmp_path / f"rd{_token()}"
        shutil.copy("/bin/cat", reader)
        alert = monitor.wait_for("Read of Sensitive File", lambda: run([str(reader), "/etc/shadow"]),
                                 where=lambda f: f["proc.name"] == reader.name)
        assert alert["output_fields"]["fd.name"] == "/etc/shadow"

    def test_file_created_below_dev(self, monitor):
        paths: list[str] = []

        def attack():
            path = f"/dev/falcolib-{_token()}"
            paths.append(path)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            os.unlink(path)
        alert = monitor.wait_for("File Created Below /dev", attack,
                                 where=lambda f: f["fd.name"] in paths)
        assert alert["output_fields"]["proc.cmdline"]
        assert alert["priority"] == "Error"

    def test_system_binary_connects_out(self, monitor, tmp_path):
        cat = python_named(tmp_path, "cat")
        token = _token()
        code = connect_code(token, "203.0.113.9", 80)   # TEST-NET-3: never answered
        alert = monitor.wait_for("System Binary Network Connection",
                                 lambda: run([str(cat), "-c", code]),
                                 where=lambda f: token in f["proc.cmdline"])
        f = alert["output_fields"]
        assert f["proc.name"] == "cat"
        assert f["fd.name"].endswith("->203.0.113.9:80")

