"""`falcolib events` prints what `sysdig -r` prints, line for line, on every shared capture."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from falcolib.cli import main

pytestmark = pytest.mark.oracle
CAPTURES = sorted((Path(__file__).resolve().parents[2] / ".." / "shared" / "captures")
                  .resolve().glob("*.scap"))
FORMATS = (
    "%evt.num %evt.rawtime %thread.tid %evt.type %evt.dir",
    "%evt.num %evt.rawtime %thread.tid %evt.type %evt.dir %proc.name %fd.name %user.name "
    "%proc.pname %proc.cmdline",
    "*%evt.num %evt.args",
    None,  # sysdig's default line
)
FILTERS = ("evt.type in (open, openat) and evt.dir = <", "proc.vmrss > 1000",
           "fd.typechar = 4 or fd.typechar = 6", "not proc.name = sysdig and evt.failed = true")


def sysdig(capture: Path, *args: str) -> str:
    return subprocess.run(["sysdig", "-r", str(capture), *args], capture_output=True,
                          text=True, errors="surrogateescape", check=True).stdout


def falcolib(capsys, *args: str) -> str:
    assert main(["events", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
class TestSameAsSysdig:
    """Formats and filters over every capture: identical output."""

    @pytest.mark.parametrize("fmt", FORMATS, ids=["header", "state", "args", "default"])
    def test_format(self, capsys, capture, fmt):
        extra = ("-p", fmt) if fmt else ()
        assert falcolib(capsys, str(capture), *extra).splitlines() == \
            sysdig(capture, *extra).splitlines()

    @pytest.mark.parametrize("condition", FILTERS)
    def test_filter(self, capsys, capture, condition):
        fmt = ("-p", "%evt.num %evt.type %proc.name %fd.name")
        assert falcolib(capsys, str(capture), condition, *fmt).splitlines() == \
            sysdig(capture, condition, *fmt).splitlines()
