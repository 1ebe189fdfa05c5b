"""Replaying every shared capture with Falco's official rules gives Falco's alerts.

How the expectations were worked out (once, by hand and with the oracle):
every official rule's condition, expanded by falcolib (macros, lists,
exceptions), was run through ``sysdig -r CAPTURE "(COND) and evt.dir=<"``
on every capture; 79 of the 93 rules use only fields sysdig 0.29 knows, and
of those only two match anything:

- "Unexpected UDP Traffic" (incubating, enabled): test_ipv6_client.scap,
  the two successful UDP connects of ``test_ipv6_clien`` to ::1 port 2345
  (events 227 and 231). ::1 is neither 0.0.0.0 nor in 127.0.0.0/8, so
  ``inbound_outbound`` holds, and 2345 is not an expected UDP port. The
  connects to port 53 in curl_google.scap are expected UDP traffic.
- "Unexpected inbound connection source" (sandbox, ``enabled: false``):
  single_ipv6_conn.scap, the listen (853) and accept (1153) on port 1234.

The 14 other rules use fields newer than sysdig 0.29 (thread.cap_*,
proc.is_exe_upper_layer, proc.is_vpgid_leader, fd.nameraw, proc.aexe ...);
each needs a process the captures never start (a shell, sudo, mount,
kernel module loading, java, unshare, a container's first process) and so
cannot match. Every alert is on an exit event: Falco never evaluates rules
on the enter half of a system call.

The psp_* captures come from Falco's old PSP tests and hold container
activity (bash running ls as root in an nginx container, nologin exec'd in
it, bash writing /tmp/test from the container's first process, the
privileged container's metadata event). Today's official rules raise
nothing on them with the files as shipped; each trips a container rule
once the rules are tuned the way their own comments invite, shown in
TestContainerCaptures.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from falcolib.rules import RulesText, load_rules

from .conftest import OFFICIAL, SHARED

CAPTURES = sorted((SHARED / "captures").glob("*.scap"))

# capture -> {rule: count} with the official files as shipped (Falco's defaults)
EXPECTED = {p.name: {} for p in CAPTURES}
EXPECTED["test_ipv6_client.scap"] = {"Unexpected UDP Traffic": 2}
# the same with every rule enabled (sandbox rules that ship disabled included)
EXPECTED_ALL_ENABLED = dict(EXPECTED)
EXPECTED_ALL_ENABLED["single_ipv6_conn.scap"] = {"Unexpected inbound connection source": 2}


@pytest.fixture(scope="module")
def official(shared_rules_dir):
    return load_rules(OFFICIAL)


def replay(ruleset, capture: str, rule_matching: str = "first"):
    pytest.importorskip("falcolib_scap")
    from falcolib.testing import run_rules
    return run_rules(ruleset, SHARED / "captures" / capture, rule_matching=rule_matching)


@pytest.mark.skipif(not CAPTURES, reason="no shared captures")
class TestOfficialRules:
    """Per capture, exactly the rules Falco raises, and how often."""

    @pytest.mark.parametrize("capture", [p.name for p in CAPTURES])
    def test_as_shipped(self, official, capture):
        assert dict(replay(official, capture).rules()) == EXPECTED[capture]

    @pytest.mark.parametrize("capture", [p.name for p in CAPTURES])
    def test_every_rule_enabled(self, official, capture):
        everything = official.select(enable_rules=["*"])
        got = replay(everything, capture, rule_matching="all")
        assert dict(got.rules()) == EXPECTED_ALL_ENABLED[capture]

    def test_unexpected_udp_alert(self, official):
        alerts = replay(official, "test_ipv6_client.scap")
        for alert in alerts:
            assert alert.priority == "Notice" and alert.source == "syscall"
            assert "maturity_incubating" in alert.tags and "network" in alert.tags
            assert alert.output_fields["proc.name"] == "test_ipv6_clien"
            assert alert.output_fields["fd.name"] == "::1:38255->::1:2345"
            assert alert.output.startswith("Unexpected UDP Traffic Seen | connection=")


def tuned(text: str):
    return load_rules([*OFFICIAL, RulesText(text, "tuning.yaml")])


@pytest.mark.skipif(not CAPTURES, reason="no shared captures")
class TestContainerCaptures:
    """The psp_* container captures trip container rules once tuned as the rules invite."""

    def test_recon_in_container(self, shared_rules_dir):
        # "Basic Interactive Reconnaissance" (desc: 'You can expand the list of
        # reconnaissance commands, such as by adding "ls"'): ls typed at bash's terminal
        # (tty 34816) in container 697956520d89, as process group leader
        rs = tuned("- list: recon_binaries\n  items: [ls]\n  override:\n    items: append\n")
        alerts = replay(rs, "psp_run_as_user_0_container.scap")
        assert dict(alerts.rules()) == {"Basic Interactive Reconnaissance": 1}
        fields = alerts[0].output_fields
        assert (fields["proc.name"], fields["proc.pname"], fields["user.name"]) == \
            ("ls", "bash", "root")
        assert "container" in alerts[0].tags
        assert fields.get("container.id", "697956520d89") == "697956520d89"

    def test_privileged_container(self, shared_rules_dir):
        # psp_privileged.scap holds only the container event of privileged nginx
        # container 9dbcbd0c435f; Falco's rules counted that event as a container start
        # before the container plugin (container_started included `evt.type = container`)
        rs = tuned("""
- macro: container_started
  condition: ((evt.type = container or (spawned_process and proc.vpid=1)) and container)
  override:
    condition: replace
""")
        alerts = replay(rs, "psp_privileged.scap")
        assert dict(alerts.rules()) == {"Launch Privileged Container": 1}
        assert alerts[0].priority == "Informational"

    def test_network_tool_in_container(self, shared_rules_dir):
        # nologin exec'd inside container 697956520d89; listed as a network tool
        rs = tuned("- list: network_tool_binaries\n  items: [nologin]\n"
                   "  override:\n    items: append\n")
        alerts = replay(rs, "psp_run_as_user_65534_container.scap")
        assert dict(alerts.rules()) == {"Launch Suspicious Network Tool in Container": 1}
        assert alerts[0].output_fields["proc.name"] == "nologin"

    def test_write_in_container(self, shared_rules_dir):
        # bash, the container's first process, creates /tmp/test; with /tmp monitored
        rs = tuned("- list: monitored_directories\n  items: [/tmp]\n"
                   "  override:\n    items: append\n")
        alerts = replay(rs, "psp_write_tmp_test.scap")
        assert dict(alerts.rules()) == {"Write below monitored dir": 1}
        assert alerts[0].output_fields["fd.name"] == "/tmp/test"

    def test_nothing_without_tuning(self, official):
        for name in ("psp_privileged.scap", "psp_run_as_user_0_container.scap",
                     "psp_run_as_user_65534_container.scap", "psp_write_tmp_test.scap"):
            assert len(replay(official, name)) == 0, name


def test_captures_present():
    """The suite sees the shared captures (else the classes above skip)."""
    assert not Path(SHARED / "captures").exists() or len(CAPTURES) == 14
