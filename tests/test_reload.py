"""Reload: SIGHUP and watched files raise a flag; a failed reload keeps the old rules."""
from __future__ import annotations

import os
import signal
import time

import pytest

from falcolib.config import load_config
from falcolib.reload import ReloadTrigger, Reloader, watched_files
from falcolib.rules import load_rules

GOOD = """
- rule: Shell run
  desc: a shell
  condition: evt.type = execve and evt.dir = < and proc.name = bash
  output: "shell (proc=%proc.name)"
  priority: WARNING
"""
BAD = """
- rule: Shell run
  desc: a shell
  condition: evt.type = execve and proc.nme = bash
  output: "shell"
  priority: WARNING
"""


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


class TestTrigger:
    """The flag the engine loop polls."""

    def test_sighup(self):
        """A real SIGHUP sets pending; take() clears it and says why."""
        trigger = ReloadTrigger().install()
        try:
            assert not trigger.pending
            os.kill(os.getpid(), signal.SIGHUP)
            assert wait_for(lambda: trigger.pending)
            assert trigger.take() == "SIGHUP" and not trigger.pending
        finally:
            trigger.close()
        assert signal.getsignal(signal.SIGHUP) is not None

    def test_watched_files(self, tmp_path):
        """Editing a rules file, or adding one to a rules directory, sets pending."""
        rules_dir = tmp_path / "rules.d"
        rules_dir.mkdir()
        (rules_dir / "a.yaml").write_text(GOOD)
        config = tmp_path / "falcolib.yaml"
        config.write_text("json_output: false\n")
        trigger = ReloadTrigger([str(config), str(rules_dir)], watch=True, interval=0.05).install()
        try:
            time.sleep(0.15)
            assert not trigger.pending
            config.write_text("json_output: true\n")
            assert wait_for(lambda: trigger.pending)
            assert str(config) in trigger.take()
            (rules_dir / "b.yaml").write_text(GOOD)
            assert wait_for(lambda: trigger.pending)
            assert "b.yaml" in trigger.take()
        finally:
            trigger.close()

    def test_watched_files_listing(self, tmp_path):
        """A directory contributes itself and its YAML files."""
        (tmp_path / "x.yaml").write_text("")
        (tmp_path / "notes.txt").write_text("")
        assert watched_files([str(tmp_path)]) == [str(tmp_path), str(tmp_path / "x.yaml")]


class TestReloader:
    """A reload validates everything; failure keeps the old value and says why."""

    def test_good_then_bad(self, tmp_path, caplog):
        """New rules load; a broken file returns None, logs the position, counts a failure."""
        rules = tmp_path / "rules.yaml"
        rules.write_text(GOOD)
        config = tmp_path / "falcolib.yaml"
        config.write_text("rule_matching: first\n")

        def load():
            cfg = load_config(str(config))
            return cfg, load_rules([str(rules)])
        reloader = Reloader(load)
        current = reloader.reload("start")
        assert current is not None and [r.name for r in current[1].rules] == ["Shell run"]

        rules.write_text(BAD)
        assert reloader.reload("SIGHUP") is None
        assert reloader.failures == 1 and "rules.yaml" in reloader.last_error
        assert any("keeping the previous rules" in r.message for r in caplog.records)

        rules.write_text(GOOD)
        config.write_text("rule_matching: sometimes\n")
        assert reloader.reload() is None and "falcolib.yaml:1:16" in reloader.last_error

        config.write_text("rule_matching: all\n")
        loaded = reloader.reload()
        assert loaded is not None and loaded[0].rule_matching == "all"
        assert (reloader.reloads, reloader.failures) == (2, 2)

    def test_unexpected_errors_propagate(self):
        """Only user errors are absorbed; a bug still raises."""
        def load():
            raise KeyError("bug")
        with pytest.raises(KeyError):
            Reloader(load).reload()
