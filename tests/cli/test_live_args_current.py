"""A live run renders event arguments as current libs (today's Falco), not as sysdig 0.29.

A rule printing ``%evt.arg.flags %evt.args %evt.arg.trusted_exepath`` runs through
``falcolib run --json`` on the eBPF backend while this test execs a memfd, opens an
AF_PACKET socket and execs a binary written in a container's upper layer. The expected
texts come from the current flag tables (``_data.FLAG_TABLES``): sysdig 0.29's table knows
only EXE_WRITABLE, and its layouts end execve at ``flags`` and socket's exit at ``fd``.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid

import pytest

from falcolib.decode._data import FLAG_TABLES

from .conftest import Monitor
from .test_live_official import PODMAN, _busybox_image, run

pytestmark = pytest.mark.live

TOKEN = "falcolib-cur-" + uuid.uuid4().hex[:8]
RULES = f"""
- rule: current exec
  desc: an exec carrying this test's token
  condition: evt.type in (execve, execveat) and evt.dir = < and proc.args contains "{TOKEN}"
  output: "exec flags=%evt.arg.flags trusted=%evt.arg.trusted_exepath args=%evt.args"
  priority: WARNING
- rule: current socket
  desc: a socket made by a process carrying this test's token
  condition: evt.type = socket and evt.dir = < and proc.args contains "{TOKEN}"
  output: "socket domain=%evt.arg.domain flags=%evt.arg.flags args=%evt.args"
  priority: WARNING
"""
EXE = dict(FLAG_TABLES["execve_flags"])
FAMILIES = FLAG_TABLES["socket_families"]


def _flags_text(value: int) -> str:
    """The names current libs print for an execve flag set, in their table's order."""
    return "|".join(n for n, v in FLAG_TABLES["execve_flags"] if v and value & v == v)


def _family(name: str) -> int:
    return next(v for n, v in FAMILIES if n == name)


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    rules = tmp_path_factory.mktemp("rules") / "current.yaml"
    rules.write_text(RULES)
    mon = Monitor(rules)
    yield mon
    err = mon.stop()
    assert mon.proc.returncode == 0, err


def _check_layout(args: str) -> None:
    """Names sysdig 0.29's 20-parameter execve never prints, and no trailing space."""
    for name in ("vpgid=", "cap_effective=", "exe_ino=", "trusted_exepath=", "gid="):
        assert f" {name}" in args
    assert not args.endswith(" ")


def _check_exec_flags(f: dict, *names: str) -> None:
    """The exec's flags are exactly ``names``: their value, and the text of the current table."""
    value = 0
    for name in names:
        value |= EXE[name]
    text = _flags_text(value)
    assert text == "|".join(names)
    assert f["evt.arg.flags"] == text
    assert f" flags={value}({text}) " in f["evt.args"]
    _check_layout(f["evt.args"])


class TestLiveArgsCurrent:
    """Arguments of live events, as libs HEAD's sinsp_evt prints them."""

    def test_memfd_exec_flags(self, monitor):
        """A memfd exec is EXE_WRITABLE|EXE_FROM_MEMFD, in %evt.arg.flags and %evt.args."""
        code = ("import os, sys; fd = os.memfd_create('cur'); "
                "os.write(fd, open('/bin/true', 'rb').read()); "
                "os.execv('/proc/self/fd/%d' % fd, ['memx', sys.argv[1]])")
        alert = monitor.wait_for(
            "current exec", lambda: run([sys.executable, "-c", code, TOKEN]),
            where=lambda f: f["evt.args"].startswith("res=0 exe=memx "))
        _check_exec_flags(alert["output_fields"], "EXE_WRITABLE", "EXE_FROM_MEMFD")

    def test_exec_trusted_exepath(self, monitor):
        """%evt.arg.trusted_exepath is the kernel's path of the executed file (not <NA>)."""
        alert = monitor.wait_for(
            "current exec", lambda: run([sys.executable, "-c", "pass", TOKEN]),
            where=lambda f: f["evt.args"].startswith("res=0 exe=" + sys.executable))
        f = alert["output_fields"]
        real = os.path.realpath(sys.executable)
        assert f["evt.arg.trusted_exepath"] == real
        assert f" trusted_exepath={real} " in f["evt.args"]
        assert f["evt.arg.flags"] in (_flags_text(0) or "0", _flags_text(EXE["EXE_WRITABLE"]))
        _check_layout(f["evt.args"])

    def test_packet_socket_args(self, monitor):
        """A socket exit shows domain, type and proto (current layout), the domain by name."""
        proto = socket.htons(3)   # ETH_P_ALL
        code = f"import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW, {proto}).close()"
        alert = monitor.wait_for("current socket",
                                 lambda: run([sys.executable, "-c", code, TOKEN]))
        f = alert["output_fields"]
        fam = _family("AF_PACKET")
        assert fam == socket.AF_PACKET
        assert f["evt.arg.domain"] == "AF_PACKET"
        args = f["evt.args"]
        assert args.startswith("fd=")
        kind = socket.SOCK_RAW | socket.SOCK_CLOEXEC
        assert f" domain={fam}(AF_PACKET) type={kind} proto={proto} flags=" in args
        assert not args.endswith(" ")

    def test_container_upper_layer_exec(self, monitor, tmp_path):
        """A binary copied into a container's writable layer runs as
        EXE_WRITABLE|EXE_UPPER_LAYER."""
        if not shutil.which("podman") or not os.path.exists("/usr/sbin/runc"):
            msg = "podman and runc are needed (scripts/setup-host installs them)"
            if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
                pytest.fail(msg)
            pytest.skip(msg)
        image = _busybox_image(tmp_path)
        script = f"mkdir -p /t; cp /bin/busybox /t/true; /t/true {TOKEN}"
        alert = monitor.wait_for(
            "current exec", lambda: run([*PODMAN, image, "/bin/sh", "-c", script]),
            timeout=120, where=lambda f: f["evt.args"].startswith("res=0 exe=/t/true "))
        _check_exec_flags(alert["output_fields"], "EXE_WRITABLE", "EXE_UPPER_LAYER")
        assert alert["output_fields"]["evt.arg.trusted_exepath"] == "/t/true"


def test_rules_file_is_valid(tmp_path):
    """The rule file this module runs loads cleanly (so a failure above is the rendering)."""
    rules = tmp_path / "current.yaml"
    rules.write_text(RULES)
    out = subprocess.run([sys.executable, "-m", "falcolib", "rules", "validate", str(rules)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 errors" in out.stdout + out.stderr
