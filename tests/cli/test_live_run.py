"""`falcolib run` on the live host: alerts within a second, SIGHUP reload without a restart."""
from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest

from .conftest import Monitor

pytestmark = pytest.mark.live

RULE = """
- rule: {name}
  desc: test rule
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name = {path}
  output: "{name} opened %fd.name by %proc.name (pid=%proc.pid)"
  priority: WARNING
  tags: [falcolib_test]
"""


def touch(path: Path):
    def act():
        with open(path, "a"):
            pass
    return act


class TestLiveRun:
    """Live monitoring raises a rule's alert with the right fields, and reloads on SIGHUP."""

    def test_alert_then_reload(self, tmp_path):
        tag = uuid.uuid4().hex[:8]
        a, b = tmp_path / f"first-{tag}", tmp_path / f"second-{tag}"
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULE.format(name=f"First {tag}", path=a))
        mon = Monitor(rules)
        try:
            alert = mon.wait_for(f"First {tag}", touch(a))
            assert alert["output_fields"]["fd.name"] == str(a)
            assert alert["output_fields"]["proc.pid"] == os.getpid()
            assert alert["priority"] == "Warning" and alert["source"] == "syscall"
            # a new rule file, then SIGHUP: the new rule fires, the process is the same
            rules.write_text(RULE.format(name=f"First {tag}", path=a)
                             + RULE.format(name=f"Second {tag}", path=b))
            mon.proc.send_signal(signal.SIGHUP)
            mon.wait_for(f"Second {tag}", touch(b), timeout=30)
            before = len([x for x in mon.alerts if x["rule"] == f"First {tag}"])
            touch(a)()
            deadline = time.monotonic() + 15  # alert latency grows on a loaded machine
            while time.monotonic() < deadline:
                after = len([x for x in mon.alerts if x["rule"] == f"First {tag}"])
                if after > before:
                    break
                time.sleep(0.1)
            assert after == before + 1  # the old rule kept running through the reload
        finally:
            err = mon.stop()
        assert "rules reloaded" in err
        assert mon.proc.returncode == 0, err

    def test_bad_reload_keeps_old_rules(self, tmp_path):
        tag = uuid.uuid4().hex[:8]
        a = tmp_path / f"keep-{tag}"
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULE.format(name=f"Keep {tag}", path=a))
        mon = Monitor(rules)
        try:
            mon.wait_for(f"Keep {tag}", touch(a))
            rules.write_text("- rule: broken\n  condition: proc.name = \n")
            mon.proc.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            n = len(mon.alerts)
            touch(a)()
            deadline = time.monotonic() + 10
            while len(mon.alerts) == n and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(mon.alerts) > n  # still alerting with the old rules
        finally:
            err = mon.stop()
        assert mon.proc.returncode == 0, err


SEQ_RULE = """
- rule: Sequence {tag}
  desc: every open of the sequence files
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name startswith {prefix}
  output: "seq %fd.name"
  priority: NOTICE
"""


class TestReloadWithoutGap:
    """Events keep flowing through a reload: every one of a steady stream of opens alerts."""

    def test_no_event_lost_across_reload(self, tmp_path):
        tag = uuid.uuid4().hex[:8]
        prefix = str(tmp_path / f"seq-{tag}-")
        rules = tmp_path / "rules.yaml"
        rules.write_text(SEQ_RULE.format(tag=tag, prefix=prefix))
        mon = Monitor(rules)
        try:
            mon.wait_for(f"Sequence {tag}", touch(Path(prefix + "warmup")))
            # a steady stream: 600 opens over ~3 s with a reload (same rule + one more) in the middle
            for i in range(600):
                touch(Path(f"{prefix}{i:04d}"))()
                if i == 300:
                    rules.write_text(SEQ_RULE.format(tag=tag, prefix=prefix)
                                     + RULE.format(name=f"Extra {tag}", path=tmp_path / "x"))
                    mon.proc.send_signal(signal.SIGHUP)
                time.sleep(0.005)
            deadline = time.monotonic() + 20
            want = {f"{prefix}{i:04d}" for i in range(600)}
            while time.monotonic() < deadline:
                got = {a["output_fields"]["fd.name"] for a in mon.alerts
                       if a["rule"] == f"Sequence {tag}"}
                if want <= got:
                    break
                time.sleep(0.2)
            missing = sorted(want - got)
            assert not missing, f"{len(missing)} opens without an alert, first {missing[:5]}"
        finally:
            err = mon.stop()
        assert "rules reloaded" in err
        assert "Events dropped: 0" in err


class TestDropsAreReported:
    """With a one-page ring, a burst overflows it: the drops are counted per CPU, reported by
    --stats and raised as the engine's own rate-limited alert."""

    def test_tiny_ring(self, tmp_path):
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULE.format(name="Never", path=tmp_path / "never"))
        mon = Monitor(rules, extra=("--set", "ebpf.ring_pages=1",
                                    "--set", "syscall_event_drops.threshold=0"))
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and not any(
                    a["rule"] == "falcolib: events dropped" for a in mon.alerts):
                for _ in range(2000):
                    with open("/etc/hostname"):
                        pass
                time.sleep(0.05)
        finally:
            err = mon.stop()
        drops = [a for a in mon.alerts if a["rule"] == "falcolib: events dropped"]
        assert drops, err
        assert drops[0]["source"] == "internal"
        assert int(drops[0]["output_fields"]["n_drops"]) > 0
        line = next(x for x in err.splitlines() if x.startswith("Events dropped: "))
        assert int(line.split(": ")[1]) > 0
        assert "event drop detected" in err



class TestHighVolumeSyscalls:
    """As Falco without -A, a live run leaves read/write and the other high-volume I/O
    syscalls unhooked when no rule names them; -A hooks them for the state too."""

    def _run(self, rules: Path, reads: int, *extra: str) -> dict:
        mon = Monitor(rules, extra=extra)
        try:
            mon.wait_for("Opened", touch(rules.parent / "trigger"), where=lambda f: f["fd.name"]
                         == str(rules.parent / "trigger"))
            fd = os.open("/dev/zero", os.O_RDONLY)
            try:
                for _ in range(reads):
                    os.read(fd, 1)
            finally:
                os.close(fd)
            time.sleep(0.5)
        finally:
            err = mon.stop()
        line = next(x for x in err.splitlines() if x.startswith("stats: "))
        return json.loads(line[len("stats: "):])["backend"]["extra"]

    def test_reads_not_hooked_without_all_events(self, tmp_path):
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULE.format(name="Opened", path=tmp_path / "trigger"))
        reads = 20000
        default = self._run(rules, reads)
        everything = self._run(rules, reads, "-A")
        assert everything["hooks"] > default["hooks"]
        # the reads reached the probe only with -A (seen: every event of a hooked call)
        assert everything["kernel_seen"] >= reads
        assert default["kernel_seen"] < everything["kernel_seen"] - reads // 2

    def test_rule_naming_read_hooks_it(self, tmp_path):
        """A rule on read gets its events (unlike Falco, which would warn and drop them)."""
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULE.format(name="Opened", path=tmp_path / "trigger") + """
- rule: Zero read
  desc: test rule
  condition: evt.type = read and evt.dir = < and fd.name = /dev/zero and proc.pid = {pid}
  output: "read of %fd.name by %proc.name"
  priority: NOTICE
""".format(pid=os.getpid()))
        mon = Monitor(rules)
        try:
            def act():
                with open("/dev/zero", "rb") as fh:
                    fh.read(1)
            alert = mon.wait_for("Zero read", act)
            assert alert["output_fields"]["fd.name"] == "/dev/zero"
        finally:
            mon.stop()
