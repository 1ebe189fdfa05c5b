"""Live end to end: real attacks on this machine raise the official rules' alerts."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from .conftest import require_live
from .test_containers import RUN, image  # noqa: F401 - module fixture reused

pytestmark = pytest.mark.live
RULES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "rules", "falco_rules.yaml")


class LiveEngine:
    """Engine(official falco_rules.yaml) over EbpfBackend in a thread; alerts collected."""

    def __init__(self):
        from falcolib.engine import Engine
        from falcolib.rules import load_rules
        from falcolib_ebpf import EbpfBackend

        self.engine = Engine(load_rules([os.path.realpath(RULES)]), rule_matching="all")
        self.backend = EbpfBackend(self.engine.wanted_types())
        self.backend.__enter__()
        self.alerts: list = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.engine.run(self.backend, self.alerts.append)
        except BaseException as exc:  # noqa: BLE001 - reported by the tests
            self.error = exc

    def wait(self, rule: str, pred, timeout: float = 30.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [a for a in list(self.alerts) if a.rule == rule and pred(a)]
            if hits:
                return hits
            time.sleep(0.1)
        return []

    def close(self):
        self.backend.stop()
        self._thread.join(timeout=30)
        self.backend.__exit__(None, None, None)


@pytest.fixture(scope="module")
def official():
    require_live()
    eng = LiveEngine()
    yield eng
    eng.close()


class TestOfficialRules:
    """each attack raises the expected rule with the right fields."""

    def test_read_shadow_untrusted(self, official):
        subprocess.run(["cat", "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)
        hits = official.wait("Read sensitive file untrusted",
                             lambda a: a.output_fields.get("proc.name") == "cat")
        assert hits, (official.error, [a.rule for a in official.alerts][:20])
        f = hits[0].output_fields
        assert f["fd.name"] == "/etc/shadow"
        assert f["user.name"] == "root"
        assert f["proc.cmdline"] == "cat /etc/shadow"

    def test_shell_from_web_server(self, official, tmp_path):
        nginx = tmp_path / "nginx"
        os.symlink(sys.executable, nginx)  # comm follows the name executed: "nginx"
        token = uuid.uuid4().hex[:8]
        subprocess.run([str(nginx), "-c", f"import os; os.system('sh -c \"echo {token}\"')"],
                       stdout=subprocess.DEVNULL, check=True)
        hits = official.wait("Run shell untrusted",
                             lambda a: token in str(a.output_fields.get("proc.cmdline")))
        assert hits, (official.error, sorted({a.rule for a in official.alerts}))
        f = hits[0].output_fields
        assert f["proc.name"] == "sh"
        assert f["proc.pname"] == "nginx"

    def test_symlink_over_shadow(self, official, tmp_path):
        link = tmp_path / f"s-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ln", "-s", "/etc/shadow", str(link)], check=True)
        hits = official.wait("Create Symlink Over Sensitive Files",
                             lambda a: a.output_fields.get("evt.arg.linkpath") == str(link))
        assert hits, (official.error, sorted({a.rule for a in official.alerts}))
        f = hits[0].output_fields
        assert f["evt.arg.target"] == "/etc/shadow"
        assert f["proc.name"] == "ln"

    def test_terminal_shell_in_container(self, official, image, tmp_path):  # noqa: F811
        cidfile = tmp_path / "cid"
        start = time.time_ns()
        subprocess.run(["script", "-qec", " ".join(RUN + ["-t", "--rm", "--cidfile", str(cidfile), image,
                                                          "/bin/sh", "-c", "exit 0"]), "/dev/null"],
                       capture_output=True, timeout=120)
        assert cidfile.read_text().strip()
        # the rule's output names no container field: the alert is the one after this run
        hits = official.wait("Terminal shell in container",
                             lambda a: a.time >= start and a.output_fields.get("proc.cmdline") == "sh -c exit 0")
        assert hits, (official.error, [(a.rule, a.output_fields) for a in official.alerts
                                       if a.rule == "Terminal shell in container"])
        f = hits[0].output_fields
        assert f["proc.name"] == "sh" and f["user.name"] == "root"
        assert f["proc.tty"] != 0
