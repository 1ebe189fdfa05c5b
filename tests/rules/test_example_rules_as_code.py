"""examples/rules_as_code.py runs and shows what it promises."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rules_as_code.py"


class TestExample:
    """The rules-as-code example validates, alerts on cat_write.scap and round-trips."""

    def test_runs(self):
        pytest.importorskip("falcolib_scap")
        out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        assert "validation: OK, 0 errors, 0 warnings" in out
        # cat reads /etc/ld.so.cache once and opens libc once (see test_default_rules)
        assert "cat_write.scap: 2 alerts {'Loader configuration read': 1, " \
               "'Library opened by cat': 1}" in out
        assert "reloaded the same: True" in out
