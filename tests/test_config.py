"""Configuration: falco.yaml names, --set overrides, errors with file:line:column."""
from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from falcolib.config import Config, load_config
from falcolib.errors import ConfigError, FalcolibError

FALCO_YAML = Path("/work/.mirror/falcosecurity+falco/repo")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "falcolib.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(path)


def error(tmp_path: Path, text: str, *sets: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), sets)
    return info.value


class TestDefaults:
    """With no file, the defaults: Falco's, except where documented."""

    def test_defaults(self):
        """No file: stdout only, rule_matching first, drops log+alert at 10%."""
        config = load_config()
        assert config == Config()
        assert config.stdout_output.enabled and not config.file_output.enabled
        assert not config.syslog_output.enabled  # falco: true; documented difference
        assert config.rule_matching == "first" and config.priority == "debug"
        assert config.syscall_event_drops.actions == ("log", "alert")
        assert config.syscall_event_drops.threshold == 0.1
        assert config.metrics.interval == 3600.0
        assert config.json_include_output_property and config.json_include_tags_property

    def test_empty_file(self, tmp_path):
        """An empty file is the defaults."""
        assert load_config(write(tmp_path, "")) == Config()

    def test_to_dict(self):
        """to_dict gives plain nested data."""
        data = load_config().to_dict()
        assert data["http_output"]["user_agent"] == "falcosecurity/falco"
        assert "ignored" not in data and "source" not in data

    def test_to_dict_keeps_append_output_source(self, tmp_path):
        """Only the config's own bookkeeping is left out: an append_output entry's
        source stays."""
        data = load_config(write(tmp_path, """
            append_output:
              - match: {source: syscall}
                extra_output: "x"
            """)).to_dict()
        assert data["append_output"][0]["source"] == "syscall"


class TestValues:
    """Keys map to typed values."""

    def test_full_file(self, tmp_path):
        """Every section read with its types."""
        config = load_config(write(tmp_path, """
            rules_files: [/etc/falco/falco_rules.yaml, /etc/falco/rules.d]
            json_output: true
            json_include_output_property: false
            priority: WARNING
            rule_matching: all
            time_format_iso_8601: yes
            buffered_outputs: true
            outputs_queue: {capacity: 10}
            file_output: {enabled: true, keep_alive: true, filename: /var/log/falcolib.txt}
            syslog_output: {enabled: true, transport: tcp, host: 10.0.0.1, port: 6514, facility: local0}
            program_output: {enabled: true, program: [logger, -t, falcolib]}
            http_output:
              enabled: true
              url: https://sidekick:2801/
              ca_cert: /etc/ca.pem
              mtls: true
              max_consecutive_timeouts: 3
            webserver: {enabled: true, listen_port: 9000, prometheus_metrics_enabled: true}
            syscall_event_drops: {threshold: 0.5, actions: [exit], rate: 1, max_burst: 10}
            metrics: {enabled: true, interval: 15m, output_rule: false}
        """))
        assert config.rules_files == ("/etc/falco/falco_rules.yaml", "/etc/falco/rules.d")
        assert config.json_output and not config.json_include_output_property
        assert config.priority == "warning" and config.rule_matching == "all"
        assert config.time_format_iso_8601 and config.buffered_outputs
        assert config.outputs_queue.capacity == 10
        assert config.file_output.filename == "/var/log/falcolib.txt"
        assert (config.syslog_output.transport, config.syslog_output.port) == ("tcp", 6514)
        assert config.program_output.program == ("logger", "-t", "falcolib")
        assert config.http_output.mtls and config.http_output.max_consecutive_timeouts == 3
        assert config.webserver.listen_port == 9000
        assert config.syscall_event_drops.actions == ("exit",)
        assert config.syscall_event_drops.rate == 1.0
        assert config.metrics.interval == 900.0 and not config.metrics.output_rule

    def test_rules_file_alias(self, tmp_path):
        """Falco's older rules_file key, a single string, adds to rules_files."""
        config = load_config(write(tmp_path, "rules_file: a.yaml\nrules_files: [b.yaml]\n"))
        assert config.rules_files == ("a.yaml", "b.yaml")

    @pytest.mark.parametrize("text,seconds", [("1h", 3600), ("30s", 30), ("500ms", 0.5),
                                              ("2d", 172800), ("1500", 1.5)])
    def test_durations(self, text, seconds):
        """metrics.interval uses Falco's duration syntax (a bare number is ms)."""
        assert load_config(None, [f"metrics.interval={text}"]).metrics.interval == seconds

    def test_falco_yaml_loads(self, tmp_path):
        """Falco's own falco.yaml loads; the keys we do not act on are listed."""
        text = subprocess.run(["git", "-C", str(FALCO_YAML), "show", "HEAD:falco.yaml"],
                              capture_output=True, text=True)
        if text.returncode:
            pytest.skip("falcosecurity/falco mirror not on this machine")
        path = tmp_path / "falco.yaml"
        path.write_text(text.stdout)
        config = load_config(str(path))
        assert config.syslog_output.enabled and config.webserver.enabled
        assert config.program_output.program.startswith("jq ")
        ignored = {key for key, _pos in config.ignored}
        assert {"engine", "plugins", "load_plugins", "base_syscalls", "falco_libs"} <= ignored
        assert all(pos.line > 0 for _key, pos in config.ignored)


class TestErrors:
    """Unknown keys and wrong types name file, line and column."""

    def test_unknown_top_level_key(self, tmp_path):
        """A misspelt key, with a suggestion."""
        exc = error(tmp_path, "json_output: true\nstdout_outputs:\n  enabled: true\n")
        assert exc.position.line == 2 and exc.position.column == 1
        assert "unknown key 'stdout_outputs'" in str(exc) and "stdout_output" in str(exc)
        assert str(exc).startswith(f"{tmp_path / 'falcolib.yaml'}:2:1: ")

    def test_unknown_nested_key(self, tmp_path):
        """Nested keys are dotted in the message; column of the key."""
        exc = error(tmp_path, "http_output:\n  enabled: true\n  urll: http://x/\n")
        assert (exc.position.line, exc.position.column) == (3, 3)
        assert "http_output.urll" in str(exc) and "'url'" in str(exc)

    @pytest.mark.parametrize("text,line,column,words", [
        ("json_output: maybe\n", 1, 14, "true or false"),
        ("file_output:\n  enabled: 1\n", 2, 12, "true or false"),
        ("syslog_output: {port: 70000}\n", 1, 23, "[1, 65535]"),
        ("rule_matching: some\n", 1, 16, "first, all"),
        ("syscall_event_drops:\n  threshold: 2\n", 2, 14, "[0.0, 1.0]"),
        ("syscall_event_drops:\n  actions: [log, shout]\n", 2, 18, "ignore, log, alert, exit"),
        ("syscall_event_drops:\n  actions: [ignore, alert]\n", 2, 12, "make no sense"),
        ("metrics:\n  interval: soon\n", 2, 13, "duration"),
        ("rules_files: {a: 1}\n", 1, 14, "list of strings"),
        ("stdout_output: [1]\n", 1, 16, "mapping"),
        ("outputs_queue:\n  capacity: -1\n", 2, 13, "[0, None]"),
        ("priority: [warning]\n", 1, 11, "single value"),
    ])
    def test_wrong_types(self, tmp_path, text, line, column, words):
        """Each wrong value points at itself."""
        exc = error(tmp_path, text)
        assert (exc.position.line, exc.position.column) == (line, column), str(exc)
        assert words in str(exc)

    def test_yaml_syntax_error(self, tmp_path):
        """Broken YAML: the parser's position."""
        exc = error(tmp_path, "json_output: true\nfile_output: [a\n")
        assert exc.position.line == 3 and "invalid YAML" in str(exc)

    def test_not_a_mapping(self, tmp_path):
        """A file that is a list."""
        exc = error(tmp_path, "- a\n- b\n")
        assert (exc.position.line, exc.position.column) == (1, 1)

    def test_duplicate_key(self, tmp_path):
        """The same key twice is an error at the second."""
        exc = error(tmp_path, "json_output: true\njson_output: false\n")
        assert exc.position.line == 2 and "duplicate" in str(exc)

    def test_missing_file(self, tmp_path):
        """An unreadable file names itself; the error is a ValueError and FalcolibError."""
        with pytest.raises(ConfigError) as info:
            load_config(str(tmp_path / "nope.yaml"))
        assert "nope.yaml" in str(info.value) and "No such file" in str(info.value)
        assert isinstance(info.value, ValueError) and isinstance(info.value, FalcolibError)


class TestAppendOutput:
    """append_output: entries of match, extra_output, extra_fields, suggested_output."""

    def test_default(self):
        """No append_output: one entry adding the suggested fields to every rule."""
        (entry,) = load_config().append_output
        assert entry.suggested_output and not (entry.source or entry.rule or entry.tags)
        assert entry.matches("any rule", "syscall", ())

    def test_entries(self, tmp_path):
        """Every key read with its type; fields given bare get a %field format."""
        config = load_config(write(tmp_path, """
            append_output:
              - match: {source: syscall, rule: Write below etc, tags: [fs, host]}
                extra_output: "pid=%proc.pid"
                extra_fields: [evt.hostname, {user: "%user.name"}]
                suggested_output: true
              - match: {tags: k8s}
                extra_output: second
        """))
        first, second = config.append_output
        assert (first.source, first.rule, first.tags) == ("syscall", "Write below etc", ("fs", "host"))
        assert first.extra_output == "pid=%proc.pid" and first.suggested_output
        assert first.extra_fields == (("evt.hostname", "%evt.hostname"), ("user", "%user.name"))
        assert first.matches("Write below etc", "syscall", ("host", "fs", "x"))
        assert not first.matches("Write below etc", "syscall", ("fs",))
        assert second.tags == ("k8s",) and second.extra_output == "second"
        assert not second.suggested_output and second.matches("r", "k8s_audit", ("k8s",))

    def test_match_given_twice(self, tmp_path):
        """Two match mappings in one entry add up (a later key wins)."""
        config = load_config(write(tmp_path, """
            append_output:
              - {match: {source: s, tags: [a]}, match: {rule: r, tags: [b]}}
        """))
        (entry,) = config.append_output
        assert (entry.source, entry.rule, entry.tags) == ("s", "r", ("b",))

    @pytest.mark.parametrize("text,line,column,message", [
        ("append_output: {a: 1}\n", 1, 16, "'append_output' must be a list of entries"),
        ("append_output: [5]\n", 1, 17, "'append_output[0]' must be a mapping"),
        ("append_output:\n  - {}\n  - nope: 1\n", 3, 5,
         "unknown key 'append_output[1].nope' (expected match, extra_output, extra_fields, "
         "suggested_output)"),
        ("append_output:\n  - match: [a]\n", 2, 12, "'append_output[0].match' must be a mapping"),
        ("append_output:\n  - match: {bogus: 1}\n", 2, 13,
         "unknown key 'append_output[0].match.bogus' (expected source, rule, tags)"),
        ("append_output:\n  - match: {extra_output: x}\n", 2, 13,
         "unknown key 'append_output[0].match.extra_output' (expected source, rule, tags)"),
        ("append_output:\n  - match: {source: 3}\n", 2, 21,
         "'append_output[0].match.source' must be a string (got 3 that is a int)"),
        ("append_output:\n  - match: {tags: {a: b}}\n", 2, 19,
         "'append_output[0].match.tags' must be a list of strings"),
        ("append_output:\n  - {[k]: 1}\n", 2, 6, "'append_output[0]' must be a single value"),
        ("append_output:\n  - {1: x}\n", 2, 6, "unknown key 'append_output[0].1'"),
        ("append_output:\n  - suggested_output: 1\n", 2, 23,
         "'append_output[0].suggested_output' must be true or false"),
        ("append_output:\n  - extra_fields: x\n", 2, 19,
         "'append_output[0].extra_fields' must be a list"),
        ("append_output:\n  - extra_output: [x]\n", 2, 19,
         "'append_output[0].extra_output' must be a single value (got a list)"),
    ])
    def test_errors(self, tmp_path, text, line, column, message):
        """Each wrong entry names its dotted key and points at itself."""
        exc = error(tmp_path, text)
        assert (exc.position.line, exc.position.column) == (line, column), str(exc)
        assert message in str(exc)

    def test_set_override(self):
        """--set append_output=[...] is checked the same way, column inside the argument."""
        config = load_config(None, ["append_output=[{match: {rule: R}, extra_output: x}]"])
        (entry,) = config.append_output
        assert entry.rule == "R" and entry.extra_output == "x"
        with pytest.raises(ConfigError) as info:
            load_config(None, ["append_output=[{match: {x: 1}}]"])
        assert info.value.position.column == 25 and "append_output[0].match.x" in str(info.value)


class TestOverrides:
    """--set key=value, dotted keys, YAML values."""

    def test_override_wins_over_file(self, tmp_path):
        """A --set value replaces the file's and creates missing sections."""
        config = load_config(write(tmp_path, "json_output: false\nfile_output:\n  enabled: false\n"),
                             ["json_output=true", "file_output.enabled=true",
                              "http_output.url=http://127.0.0.1:2801/", "rule_matching=all",
                              "rules_files=[x.yaml, y.yaml]"])
        assert config.json_output and config.file_output.enabled
        assert config.http_output.url == "http://127.0.0.1:2801/"
        assert config.rule_matching == "all" and config.rules_files == ("x.yaml", "y.yaml")

    def test_override_replaces_scalar_section(self, tmp_path):
        """A dotted key below a key that held a scalar makes it a mapping."""
        config = load_config(write(tmp_path, "metrics: ~\n"), ["metrics.enabled=true"])
        assert config.metrics.enabled

    @pytest.mark.parametrize("arg,column,words", [
        ("json_output=perhaps", 13, "true or false"),
        ("stdout_output.enabld=true", 1, "unknown key 'stdout_output.enabld'"),
        ("syslog_output.port=[1", 22, "not valid YAML"),  # at the end of the value
        ("webserver.listen_port=http", 23, "integer"),
    ])
    def test_override_errors(self, arg, column, words):
        """A bad --set names the argument and the column inside it."""
        with pytest.raises(ConfigError) as info:
            load_config(None, [arg])
        assert info.value.position.file == f"--set {arg}"
        assert info.value.position.column == column, str(info.value)
        assert words in str(info.value)

    @pytest.mark.parametrize("arg", ["json_output", "=true", "a..b=1"])
    def test_malformed(self, arg):
        """No '=' or an empty key part."""
        with pytest.raises(ConfigError, match="key=value"):
            load_config(None, [arg])


class TestDeployFiles:
    """The service files in deploy/ are valid."""

    ROOT = Path(__file__).resolve().parents[1]

    def test_service_config_loads(self):
        """deploy/falcolib.yaml loads cleanly, nothing ignored, and enables what it says."""
        config = load_config(str(self.ROOT / "deploy" / "falcolib.yaml"))
        assert config.ignored == ()
        assert config.json_output and config.syslog_output.enabled
        assert config.webserver.prometheus_metrics_enabled and config.metrics.interval == 900

    def test_systemd_unit_verifies(self, tmp_path):
        """systemd-analyze verify finds nothing wrong (ExecStart pointed at a real binary)."""
        import shutil
        import sys
        if shutil.which("systemd-analyze") is None:
            pytest.skip("systemd-analyze not installed")
        unit = (self.ROOT / "deploy" / "falcolib.service").read_text()
        assert "ExecReload=/bin/kill -HUP $MAINPID" in unit
        path = tmp_path / "falcolib.service"
        path.write_text(unit.replace("/usr/local/bin/falcolib", sys.executable + " -m falcolib"))
        result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                                text=True)
        problems = [line for line in (result.stdout + result.stderr).splitlines()
                    if "falcolib.service" in line]
        assert result.returncode == 0 and problems == [], result.stderr
