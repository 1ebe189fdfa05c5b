"""Falco's official rule files (../shared/rules) load unmodified, as Falco loads them.

Warnings Falco itself gives for these files: none, in all three combinations.
- LOAD_UNUSED_MACRO/LIST: every macro and list is referenced by a rule or another
  macro/list (checked independently below by searching the files' text);
- LOAD_NO_EVTTYPE: Falco warns only when a rule matches more than 100 event
  types; every official rule is restricted with evt.type (checked per rule);
- LOAD_DEPRECATED_ITEM: the files use no `append: true`, no standalone
  `enabled:`, no evt.dir/evt.latency fields and no %container.info;
- LOAD_UNKNOWN_KEY/ITEM/SOURCE: none are there.
The files need the container plugin (required_plugin_versions), which Falco
checks outside the rule loader; falcolib reads it and reports it on the Ruleset.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from falcolib.cli.rules import evttype_names
from falcolib.rules import load_rules, validate_rules

from .conftest import OFFICIAL

COMBOS = {"stable": OFFICIAL[:1], "stable+incubating": OFFICIAL[:2],
          "stable+incubating+sandbox": OFFICIAL}


@pytest.fixture(scope="module")
def everything(shared_rules_dir):
    return load_rules(OFFICIAL)


class TestLoad:
    """No errors and exactly Falco's (empty) list of warnings."""

    @pytest.mark.parametrize("combo", list(COMBOS))
    def test_no_issues(self, shared_rules_dir, combo):
        result = validate_rules(COMBOS[combo])
        assert [str(i) for i in result.errors] == []
        assert [str(i) for i in result.warnings] == []

    @pytest.mark.parametrize("combo", list(COMBOS))
    def test_every_macro_and_list_is_referenced(self, shared_rules_dir, combo):
        """The independent check behind expecting no LOAD_UNUSED_* warning."""
        items = [i for p in COMBOS[combo] for i in yaml.safe_load(p.read_text())]
        texts = [(i.get("macro") or i.get("list"),
                  i.get("condition") or " ".join(map(str, i.get("items", ()))))
                 for i in items if "condition" in i or "items" in i]
        for item in items:
            name = item.get("macro") or item.get("list")
            if name is None:
                continue
            word = re.compile(r"(?<![\w.-])" + re.escape(name) + r"(?![\w.-])")
            assert any(word.search(t) for own, t in texts if own != name), name

    def test_counts_and_requirements(self, everything):
        names = [r.name for r in everything.rules]
        assert len(names) == len(set(names)) == 93
        assert everything.required_engine_version == "0.57.0"
        assert everything.required_plugin_versions == ((("container", "0.4.0"),),) * 3

    def test_enabled_flags(self, everything):
        disabled = {i["rule"] for p in OFFICIAL for i in yaml.safe_load(p.read_text())
                    if "rule" in i and i.get("enabled") is False}
        assert len(disabled) == 12            # all in the sandbox file
        assert {r.name for r in everything.rules if not r.enabled} == disabled
        assert {c.name for c in everything.active} == {r.name for r in everything.rules} - disabled

    def test_positions(self, everything):
        text = OFFICIAL[0].read_text().splitlines()
        line = text.index("- rule: Terminal shell in container") + 1
        pos = everything.rule("Terminal shell in container").rule.position
        assert (Path(pos.file).name, pos.line, pos.column) == ("falco_rules.yaml", line, 3)


# event types worked out by hand from each rule's condition and its macros
EXPECTED_TYPES = {
    "Terminal shell in container": ["execve", "execveat"],          # spawned_process
    "Read sensitive file untrusted": ["open", "openat", "openat2"],  # open_read
    "Create Symlink Over Sensitive Files": ["symlink", "symlinkat"],
    "Create Hardlink Over Sensitive Files": ["link", "linkat"],
    "Packet socket created in container": ["socket"],
    "Redirect STDOUT/STDIN to Network Connection in Container": ["dup", "dup2", "dup3"],
    "Linux Kernel Module Injection Detected": ["finit_module", "init_module"],
    "PTRACE attached to process": ["ptrace"],
    "Change thread namespace": ["setns"],
    "Non sudo setuid": ["setuid"],
    "Create files below dev": ["creat", "open", "openat", "openat2"],
    "Set Setuid or Setgid bit": ["chmod", "fchmod", "fchmodat"],
    "Modify binary dirs": ["rename", "renameat", "renameat2", "rmdir", "unlink", "unlinkat"],
    "Mkdir binary dirs": ["mkdir", "mkdirat"],
    "Contact K8S API Server From Container": ["connect"],
    "BPF Program Not Profiled": ["bpf"],
    "Java Process Class File Download": ["recvfrom"],
    "Unprivileged Delegation of Page Faults Handling to a Userspace Process": ["userfaultfd"],
    "Delete or rename shell history": ["open", "openat", "openat2", "rename", "renameat",
                                       "renameat2", "rmdir", "unlink", "unlinkat"],
}


class TestEventTypes:
    """Each rule is indexed under the event types its condition can match."""

    @pytest.mark.parametrize("name", list(EXPECTED_TYPES))
    def test_rule(self, everything, name):
        assert evttype_names(everything.rule(name).evttypes) == EXPECTED_TYPES[name]

    def test_all_narrowed(self, everything):
        assert all(c.evttypes is not None and len(c.evttypes) <= 100
                   for c in everything.compiled)


class TestSpeed:
    """All three files load in under a second of CPU (fresh process, nothing cached)."""

    def test_load_time(self, shared_rules_dir):
        bench = Path(__file__).resolve().parents[2] / "benchmarks" / "rules_load.py"
        out = subprocess.run([sys.executable, str(bench), str(shared_rules_dir)],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        seconds = float(re.search(r"load \(cold\) of 3 files: [\d.]+ s \(cpu ([\d.]+) s\)",
                                  out).group(1))
        assert seconds < 1.0, out
