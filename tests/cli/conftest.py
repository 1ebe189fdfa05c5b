"""Shared by the CLI tests: a live `falcolib run` child whose JSON alerts are collected."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
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


