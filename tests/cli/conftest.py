"""Shared by the CLI tests: a live `falcolib run` child whose JSON alerts are collected."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest


class Monitor:
    """A `falcolib run --json` child whose alert lines are collected as they arrive."""

    def __init__(self, *rules: Path | str, extra: tuple[str, ...] = ()):
        argv = [sys.executable, "-m", "falcolib", "run", "--json", "--stats", *extra]
        for r in rules:
            argv += ["--rules", str(r)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.alerts: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.alerts.append(json.loads(line))

    def wait_for(self, rule: str, action, timeout: float = 90.0, where=None) -> dict:
        """Repeat ``action`` until an alert of ``rule`` (whose output_fields satisfy ``where``,
        if given) arrives; the probe may still be loading. Other processes on the host may
        trip the same rule meanwhile: ``where`` picks the alert of this test's action."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.proc.stderr.read()
            action()
            time.sleep(0.2)
            hits = [a for a in self.alerts if a["rule"] == rule
                    and (where is None or where(a["output_fields"]))]
            if hits:
                return hits[0]
        seen = [a["output_fields"] for a in self.alerts if a["rule"] == rule][:3]
        pytest.fail(f"no alert of {rule!r} within {timeout}s (of this rule: {seen})")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=60)
        self._reader.join(timeout=5)
        return err




def module_monitor(*rules: Path | str, extra: tuple[str, ...] = ()):
    """A module-scoped fixture: one Monitor of ``rules`` (none: the default rules) for the
    module's tests, stopped cleanly at the end."""
    @pytest.fixture(scope="module")
    def monitor():
        mon = Monitor(*rules, extra=extra)
        yield mon
        err = mon.stop()
        assert mon.proc.returncode == 0, err
    return monitor


def require_podman() -> None:
    """Skip without podman and runc (fail in CI, FALCOLIB_REQUIRE_LIVE=1)."""
    if not shutil.which("podman") or not os.path.exists("/usr/sbin/runc"):
        msg = "podman and runc are needed (scripts/setup-host installs them)"
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def python_named(tmp_path: Path, name: str) -> Path:
    """This Python under the name ``name`` (a symlink: its process's comm is ``name``)."""
    path = tmp_path / uuid.uuid4().hex[:8] / name
    path.parent.mkdir()
    os.symlink(sys.executable, path)
    return path


def connect_code(token: str, host: str, port: int) -> str:
    """Python code (marked with ``token`` in its command line) connecting out without
    blocking: the EINPROGRESS of an address that never answers counts as outbound."""
    return (f"# {token}\nimport socket\ns = socket.socket()\ns.setblocking(False)\n"
            f"try:\n    s.connect(({host!r}, {port}))\nexcept BlockingIOError:\n    pass\n")
