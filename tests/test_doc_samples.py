"""Every code sample in docs/*.md runs: ```python blocks execute, ```console commands exit 0.

Samples run from the repository root (they use ../shared). Python blocks of one
document share a namespace and run in order; a block defining ``test_*``
functions is run by pytest. Commands that need the live backend run only where
live eBPF tests can (root, BTF, bcc), as in CI.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
LIVE_COMMANDS = (("run",), ("capture",))


def blocks(doc: Path, lang: str) -> list[str]:
    return [body for kind, body in BLOCK.findall(doc.read_text()) if kind == lang]


def commands(doc: Path) -> list[str]:
    return [line[2:] for body in blocks(doc, "console") for line in body.splitlines()
            if line.startswith("$ ")]


def is_live(argv: list[str]) -> bool:
    return argv[1] == "capture" or (argv[1] == "run" and "--capture" not in argv)


CASES = [(d, c) for d in DOCS for c in commands(d)]


@pytest.mark.parametrize("doc,command", CASES, ids=[f"{d.name}: {c[:60]}" for d, c in CASES])
def test_console_samples(doc, command):
    argv = shlex.split(command)
    assert argv[0] == "falcolib", f"{doc.name}: samples run falcolib only, not {argv[0]!r}"
    if is_live(argv):
        from falcolib.testing.plugin import live_unavailable_reason
        reason = live_unavailable_reason()
        if reason is not None:
            if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
                pytest.fail(f"live sample cannot run: {reason}")
            pytest.skip(reason)
    proc = subprocess.run([sys.executable, "-m", "falcolib", *argv[1:]], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"


PY_DOCS = [d for d in DOCS if blocks(d, "python")]


@pytest.mark.parametrize("doc", PY_DOCS, ids=[d.name for d in PY_DOCS])
def test_python_samples(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {"__name__": f"docs_{doc.stem}"}
    tests = []
    for i, body in enumerate(blocks(doc, "python")):
        if re.search(r"^def test_", body, re.M):
            tests.append(body)
            continue
        exec(compile(body, f"{doc.name}[python block {i}]", "exec"), namespace)
    if tests:
        # a separate pytest process (pytester would swap sys.modules under this one)
        for i, body in enumerate(tests):
            (tmp_path / f"test_{doc.stem}_{i}.py").write_text(body)
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        want = sum(len(re.findall(r"^def test_", t, re.M)) for t in tests)
        assert proc.returncode == 0 and f"{want} passed" in proc.stdout, proc.stdout[-3000:]
