"""The command-line contract (docs/contract.md): exit codes and one-line errors."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = (ROOT / ".." / "shared").resolve()
CAPTURES = SHARED / "captures"
RULES = SHARED / "rules"
# stable + incubating on this capture: "Unexpected UDP Traffic" twice (events 227, 231)
ALERTING = ("--rules", RULES / "falco_rules.yaml", "--rules", RULES / "falco-incubating_rules.yaml",
            "--capture", CAPTURES / "test_ipv6_client.scap")


def falcolib(*args, input=None, timeout=120):
    env = dict(os.environ, TZ="UTC")
    return subprocess.run([sys.executable, "-m", "falcolib", *map(str, args)], capture_output=True,
                          text=True, input=input, timeout=timeout, env=env)


def one_line_error(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err.splitlines()) == 1, proc.stderr
    return err


class TestUsageErrors:
    """Bad flags exit 2; user errors exit 1 with one line naming the place."""

    def test_unknown_flag_is_usage_error(self):
        proc = falcolib("run", "--no-such-flag")
        assert proc.returncode == 2

    def test_missing_subcommand_is_usage_error(self):
        assert falcolib().returncode == 2

    def test_missing_capture_file(self, tmp_path):
        proc = falcolib("events", tmp_path / "nope.scap")
        assert proc.returncode == 1
        assert "nope.scap" in one_line_error(proc)

    def test_not_a_capture_names_offset(self, tmp_path):
        bad = tmp_path / "bad.scap"
        bad.write_bytes(b"this is not a capture file at all" * 4)
        proc = falcolib("events", bad)
        assert proc.returncode == 1
        err = one_line_error(proc)
        assert "bad.scap" in err and "offset 0" in err

    def test_truncated_capture_names_offset(self, tmp_path):
        data = gzip.decompress((CAPTURES / "cat_write.scap").read_bytes())
        cut = tmp_path / "cut.scap"
        cut.write_bytes(data[: len(data) // 2])
        proc = falcolib("events", cut, "-p", "%evt.num")
        assert proc.returncode == 1
        err = one_line_error(proc)
        assert "cut.scap" in err and "offset" in err

    def test_filter_syntax_error_names_column(self):
        proc = falcolib("events", CAPTURES / "cat_write.scap", "proc.name = cat and and")
        assert proc.returncode == 1
        err = one_line_error(proc)
        assert "column" in err or ":1:" in err

    def test_unknown_field_is_named(self):
        proc = falcolib("events", CAPTURES / "cat_write.scap", "proc.nosuchfield = x")
        assert proc.returncode == 1
        assert "proc.nosuchfield" in one_line_error(proc)

    def test_unknown_format_field_is_named(self):
        proc = falcolib("events", CAPTURES / "cat_write.scap", "-p", "%evt.num %no.such")
        assert proc.returncode == 1
        assert "no.such" in one_line_error(proc)

    def test_bad_rules_file_names_line_and_column(self, tmp_path):
        bad = tmp_path / "bad.yaml"
        bad.write_text("- rule: x\n  desc: y\n  condition: proc.name = \n  output: z\n  priority: INFO\n")
        proc = falcolib("run", "--rules", bad, "--capture", CAPTURES / "cat_write.scap")
        assert proc.returncode == 1
        err = one_line_error(proc)
        assert "bad.yaml:" in err


class TestEvents:
    """`falcolib events` prints one line per event, -p formats, --limit, --json."""

    def test_limit(self):
        proc = falcolib("events", CAPTURES / "cat_write.scap", "-p", "%evt.num", "--limit", "7")
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == 7

    def test_json_lines_hold_format_fields(self):
        proc = falcolib("events", CAPTURES / "cat_write.scap", "evt.type = open",
                        "-p", "%evt.num %proc.name %fd.name", "--json", "--limit", "3")
        assert proc.returncode == 0, proc.stderr
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert rows and all({"evt.num", "proc.name", "fd.name"} <= set(r) for r in rows)
        assert all(r["proc.name"] == "cat" for r in rows)


class TestRun:
    """`falcolib run --capture` with the contract's flags."""

    def test_json_alert_schema(self):
        proc = falcolib("run", *ALERTING, "--json")
        assert proc.returncode == 0, proc.stderr
        alerts = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert alerts, proc.stdout
        for a in alerts:
            assert set(a) >= {"time", "rule", "priority", "output", "output_fields", "tags",
                              "source", "hostname"}
            assert a["source"] == "syscall"
            assert a["priority"] in ("Emergency", "Alert", "Critical", "Error", "Warning",
                                     "Notice", "Informational", "Debug")
            assert a["time"].endswith("Z") and len(a["time"].split(".")[1]) == 10

    def test_stats_on_stderr(self):
        proc = falcolib("run", *ALERTING, "--stats")
        assert proc.returncode == 0, proc.stderr
        assert "Events read: 326" in proc.stderr and "Events dropped: 0" in proc.stderr
        assert "Unexpected UDP Traffic: 2" in proc.stderr

    def test_min_priority_filters(self):
        base = ("run", *ALERTING, "--json")
        all_alerts = [json.loads(x) for x in falcolib(*base).stdout.splitlines()]
        crit = [json.loads(x) for x in falcolib(*base, "--min-priority", "critical").stdout.splitlines()]
        assert all(a["priority"] in ("Emergency", "Alert", "Critical") for a in crit)
        assert len(all_alerts) == 2 and all(a["priority"] == "Notice" for a in all_alerts)
        assert crit == []

    def test_disable_rule_glob(self):
        base = ("run", *ALERTING, "--json")
        all_rules = {json.loads(x)["rule"] for x in falcolib(*base).stdout.splitlines()}
        assert all_rules
        victim = sorted(all_rules)[0]
        rest = {json.loads(x)["rule"] for x in
                falcolib(*base, "--disable-rule", victim[:4] + "*").stdout.splitlines()}
        assert victim not in rest


class TestLiveWithoutPrivilege:
    """A live run without root exits 3 with one line saying what is missing and how to fix it."""

    @pytest.mark.parametrize("backend", ["ebpf", "kmod"])
    def test_exit_3(self, backend):
        # import (and load the default rules) first: the interpreter's site-packages may not
        # be readable once privileges are dropped
        code = ("import os, sys\n"
                "from falcolib.cli import build_parser\n"
                "import falcolib.cli.run, falcolib.engine, falcolib.config, falcolib.droppolicy\n"
                "import falcolib.reload, falcolib.outputs.dispatcher, falcolib.state\n"
                "from falcolib.outputs.sinks import stdout, file, syslog, program, http, callable\n"
                "import falcolib_ebpf.backend, falcolib_kmod.backend\n"
                "from falcolib.rules import load_rules; load_rules()\n"
                "build_parser()\n"
                "from falcolib.backend.registry import load_backend_class\n"
                f"load_backend_class('{backend}')\n"
                "if os.geteuid() == 0:\n"
                "    os.setegid(65534); os.seteuid(65534)\n"
                "from falcolib.cli import main\n"
                f"sys.exit(main(['run', '--backend', '{backend}', '--duration', '1']))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, cwd="/")
        assert proc.returncode == 3, proc.stderr
        err = one_line_error(proc)
        assert err.startswith("falcolib: ")
        assert ("root" in err or "/dev/scap" in err), err


class TestEscaping:
    """Control characters from a capture are escaped on request (and on a terminal); piped
    output stays byte for byte sysdig's."""

    def test_events_escapes_control_characters(self, tmp_path):
        from falcolib.testing import Host
        host = Host()
        p = host.process("ev\x1b[31mil\nx", args=["a\x07b"])
        p.open("/tmp/x\x1b]0;pwn\x07\nline2")
        cap = tmp_path / "esc.scap"
        host.write(cap)
        fmt = ("-p", "%proc.name %proc.cmdline %fd.name")
        out = falcolib("events", cap, "evt.type = openat and evt.dir = <", *fmt,
                       "--escape", "always").stdout
        assert out == "ev\\x1b[31mil\\nx ev\\x1b[31mil\\nx a\\x07b /tmp/x.]0;pwn..line2\n"
        raw = falcolib("events", cap, "evt.type = openat and evt.dir = <", *fmt).stdout
        sysdig = subprocess.run(["sysdig", "-r", str(cap), "evt.type = openat and evt.dir = <",
                                 *fmt], capture_output=True, text=True).stdout
        assert raw == sysdig and "\x1b" in raw

    def test_terminal_output_is_escaped(self, tmp_path):
        import pty
        from falcolib.testing import Host
        host = Host()
        host.process("ev\x1b]0;title\x07il").open("/etc/hostname")
        cap = tmp_path / "esc.scap"
        host.write(cap)
        pid, fd = pty.fork()
        if pid == 0:  # the child: falcolib events writing to a terminal
            os.execvp(sys.executable, [sys.executable, "-m", "falcolib", "events", str(cap),
                                       "evt.type = openat and evt.dir = <", "-p", "%proc.name"])
        chunks = []
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.waitpid(pid, 0)
        text = b"".join(chunks).decode()
        assert "ev\\x1b]0;title\\x07il" in text and "\x1b" not in text
