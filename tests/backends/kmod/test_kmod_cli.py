"""The command line on this machine, which has no kernel module: exit 3 with a hint."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(Path("/dev/scap0").exists(), reason="a kernel module is loaded")


class TestNoModule:
    """`run` and `capture` with --backend kmod name the missing device and how to install it."""

    @pytest.mark.parametrize("argv", [["run", "--backend", "kmod"],
                                      ["capture", "-w", "out.scap", "--backend", "kmod"]])
    def test_exit_3(self, argv, tmp_path):
        proc = subprocess.run([sys.executable, "-m", "falcolib", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 3, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert "/dev/scap0" in lines[0] and "falcosecurity-scap-dkms" in lines[0]
        assert not (tmp_path / "out.scap").exists()
