"""Alert: Falco's text line and JSON alert schema."""
from __future__ import annotations

import json
import os
import time

import attrs
import pytest

from falcolib.outputs.alert import (
    PRIORITIES, Alert, AlertFormat, iso8601_time, priority_name, rfc3339_time, text_time,
)

from receivers import schema_problems

TS = 1672628645123456789  # 2023-01-02T03:04:05.123456789Z


def make(**kw) -> Alert:
    base = dict(time=TS, rule="Write below etc", priority="Error",
                output="File below /etc opened for writing (file=/etc/x)",
                output_fields={"fd.name": "/etc/x", "proc.pid": 42, "container.id": None},
                tags=("filesystem", "mitre_persistence"), hostname="node1")
    base.update(kw)
    return Alert(**base)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class TestTimes:
    """The three time formats Falco uses."""

    def test_rfc3339(self):
        """JSON time: UTC, nine fraction digits, Z."""
        assert rfc3339_time(TS) == "2023-01-02T03:04:05.123456789Z"
        assert rfc3339_time(5) == "1970-01-01T00:00:00.000000005Z"

    def test_iso8601(self):
        """evt.time.iso8601 as libsinsp prints it: +0000 suffix."""
        assert iso8601_time(TS) == "2023-01-02T03:04:05.123456789+0000"

    def test_text_time_follows_local_zone(self, monkeypatch):
        """evt.time is local HH:MM:SS.nnnnnnnnn."""
        assert text_time(TS) == "03:04:05.123456789"
        monkeypatch.setenv("TZ", "Asia/Kolkata")
        time.tzset()
        assert text_time(TS) == "08:34:05.123456789"


class TestJson:
    """to_json is Falco's JSON alert."""

    def test_exact_document(self):
        """Keys sorted as nlohmann prints them; output carries the time/priority prefix."""
        assert make().to_json() == (
            '{"hostname":"node1","output":"03:04:05.123456789: Error File below /etc opened '
            'for writing (file=/etc/x)","output_fields":{"container.id":null,"evt.time":'
            '1672628645123456789,"fd.name":"/etc/x","proc.pid":42},"priority":"Error",'
            '"rule":"Write below etc","source":"syscall","tags":["filesystem",'
            '"mitre_persistence"],"time":"2023-01-02T03:04:05.123456789Z"}')

    def test_schema_on_capture_alerts(self, alerts):
        """Every alert made from the shared captures passes the schema validator."""
        for alert in alerts:
            doc = json.loads(alert.to_json())
            assert schema_problems(doc, alert) == []
            assert doc["output_fields"]["evt.time"] == alert.time

    def test_options(self):
        """json_include_* switch keys as Falco's options do."""
        doc = make().to_dict(include_output=False, include_tags=False, include_message=True)
        assert "output" not in doc and "tags" not in doc
        assert doc["message"] == "File below /etc opened for writing (file=/etc/x)"
        doc = make().to_dict(include_output_fields=False, time_format_iso_8601=True)
        assert "output_fields" not in doc
        assert doc["output"].startswith("2023-01-02T03:04:05.123456789+0000: Error ")
        assert doc["time"] == "2023-01-02T03:04:05.123456789Z"

    def test_tags_sorted_and_unique(self):
        """tags is a set in Falco: sorted, no duplicates."""
        assert make(tags=("b", "a", "b")).to_dict()["tags"] == ["a", "b"]

    def test_invalid_utf8_replaced(self):
        """Undecodable bytes become U+FFFD; the JSON is valid UTF-8."""
        line = make(output_fields={"fd.name": b"\xff".decode("utf-8", "surrogateescape")}).to_json()
        line.encode("utf-8")
        assert json.loads(line)["output_fields"]["fd.name"] == "\ufffd"

    def test_internal_alert(self):
        """Internal alerts: output without prefix, no tags key, source internal."""
        alert = Alert.internal(TS, "falcolib: events dropped", "debug", "msg", {"n_drops": "3"},
                               hostname="h")
        assert json.loads(alert.to_json()) == {
            "hostname": "h", "output": "msg", "output_fields": {"n_drops": "3"},
            "priority": "Debug", "rule": "falcolib: events dropped", "source": "internal",
            "time": "2023-01-02T03:04:05.123456789Z"}
        assert alert.to_text() == '03:04:05.123456789: Debug msg (n_drops="3")'


class TestText:
    """to_text is Falco's text line, escaped."""

    def test_line(self):
        """<time>: <Priority> <output>."""
        assert make().to_text() == ("03:04:05.123456789: Error File below /etc opened for "
                                    "writing (file=/etc/x)")
        assert make().to_text(time_format_iso_8601=True).startswith(
            "2023-01-02T03:04:05.123456789+0000: Error ")

    def test_hostile_output_stays_one_line(self, alerts):
        """Newlines, terminal escapes and bidi overrides never reach the text line raw."""
        for alert in alerts:
            line = alert.to_text()
            assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
            assert "\x9b" not in line and "\r" not in line
        forged = make(output="x\nFAKE: Critical y").to_text()
        assert forged.endswith("x\\nFAKE: Critical y")

    def test_format_render_switch(self):
        """AlertFormat.render gives JSON or text per json_output."""
        alert = make()
        assert AlertFormat(json_output=True).render(alert) == alert.to_json()
        assert AlertFormat().render(alert) == alert.to_text()


class TestPriority:
    """Priority spellings Falco accepts."""

    @pytest.mark.parametrize("spelling,name", [("WARNING", "Warning"), ("info", "Informational"),
                                               ("informational", "Informational"),
                                               ("Emergency", "Emergency"), (" debug ", "Debug")])
    def test_spellings(self, spelling, name):
        """Any case, and info for Informational."""
        assert priority_name(spelling) == name

    def test_enum_member(self):
        """An enum member converts by its name."""
        import enum
        P = enum.Enum("P", "CRITICAL")
        assert make(priority=P.CRITICAL).priority == "Critical"

    def test_unknown(self):
        """An unknown priority is a ValueError naming the choices."""
        with pytest.raises(ValueError, match="Emergency"):
            make(priority="severe")

    def test_severity_is_syslog_level(self):
        """Emergency is syslog 0, Debug 7."""
        assert [make(priority=p).severity for p in PRIORITIES] == list(range(8))

    def test_frozen(self):
        """Alerts are frozen values."""
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            make().rule = "x"
        assert attrs.evolve(make(), rule="y").rule == "y"

    def test_hostname_default(self, monkeypatch):
        """FALCO_HOSTNAME wins over gethostname(), as in Falco."""
        monkeypatch.setenv("FALCO_HOSTNAME", "from-env")
        assert Alert(time=1, rule="r", priority="debug", output="o").hostname == "from-env"
        monkeypatch.delenv("FALCO_HOSTNAME")
        assert Alert(time=1, rule="r", priority="debug", output="o").hostname == os.uname().nodename
