"""Every example runs: scripts exit 0, example test modules pass, the plugin reads well."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p for p in EXAMPLES.glob("*.py") if not p.name.startswith("test_"))
TEST_MODULES = sorted(EXAMPLES.glob("test_*.py"))



def run_pytest(tmp_path, files: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """pytest in a child process over ``files`` written to ``tmp_path`` (not pytester, which
    would swap this process's sys.modules under the rest of the suite)."""
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


class TestExampleScripts:
    """Each example script runs to completion."""

    @pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
    def test_runs(self, script):
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              cwd=EXAMPLES, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]


class TestExampleTestModules:
    """The example pytest modules pass with the installed plugin."""

    @pytest.mark.parametrize("module", TEST_MODULES, ids=lambda p: p.name)
    def test_passes(self, module):
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(module)], capture_output=True, text=True, cwd=EXAMPLES,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:]


WRONG_RULES = """
- rule: Read of Sensitive File
  desc: deliberately wrong, it watches /etc/passwd instead of /etc/shadow
  condition: evt.type in (open, openat) and fd.name = /etc/passwd
  output: read %fd.name by %proc.name
  priority: WARNING
"""


class TestPluginMessages:
    """A wrong rule fails an example-style test with a readable message."""

    def test_wrong_condition_fails_readably(self, tmp_path):
        proc = run_pytest(tmp_path, {"wrong.yaml": WRONG_RULES, "test_wrong.py": """
            def test_shadow_read_fires(falco_host, falco_rules, falco_run):
                falco_host.process("python3").open("/etc/shadow")
                alerts = falco_run(falco_host, falco_rules("wrong.yaml"))
                alerts.assert_fires("Read of Sensitive File", times=1)
        """}, "-q")
        assert "1 failed" in proc.stdout, proc.stdout
        assert "expected rule 'Read of Sensitive File' to fire 1 times, it fired 0 times" \
            in proc.stdout

    def test_rules_load_problem_lists_every_issue(self, tmp_path):
        broken = ("- rule: x\n  desc: d\n  condition: proc.name = \n"
                  "  output: o\n  priority: INFO\n- macro: m\n")
        proc = run_pytest(tmp_path, {"broken.yaml": broken, "test_broken.py": """
            def test_load(falco_rules):
                falco_rules("broken.yaml")
        """}, "-q")
        assert "1 failed" in proc.stdout, proc.stdout
        assert re.search(r"broken\.yaml:1:\d+ LOAD_ERR_COMPILE_CONDITION", proc.stdout), proc.stdout
        assert re.search(r"broken\.yaml:6:\d+ LOAD_ERR_YAML_VALIDATE", proc.stdout), proc.stdout

    def test_fixtures_listed_with_docstrings(self, tmp_path):
        out = run_pytest(tmp_path, {}, "--fixtures").stdout
        for name in ("falco_run", "falco_rules", "falco_host", "falco_capture", "falco_events",
                     "falco_default_rules", "falco_capture_dirs"):
            assert name in out
        assert "AlertList" in out and "load problem fails the test" in out
