"""In-memory hosts: the events built replay through the state with the right fields."""
from __future__ import annotations

import subprocess

import pytest

from falcolib.decode.event import Event
from falcolib.fields import resolve
from falcolib.state import State
from falcolib.testing import Host, open_flags


def views(host: Host):
    state = State(host.snapshot(), host_tables=False)
    return [state.process(Event(raw)) for raw in host.raw_events()]


def field(view, name, arg=None):
    return resolve(name, arg)(view)


def last(host: Host, evt_type: str):
    return [v for v in views(host) if v.evt.name == evt_type and v.evt.dir == "<"][-1]


class TestProcesses:
    """spawn() and exec() produce the thread table a real fork+execve does."""

    def test_spawn_under_parent(self):
        host = Host()
        nginx = host.process("nginx", ["-g", "daemon off;"], user="www-data")
        nginx.spawn("sh", ["-c", "id"])
        v = last(host, "execve")
        assert field(v, "proc.name") == "sh"
        assert field(v, "proc.pname") == "nginx"
        assert field(v, "proc.cmdline") == "sh -c id"
        assert field(v, "user.name") == "www-data"
        assert field(v, "proc.aname", 2) == "systemd"

    def test_open_with_flags(self):
        host = Host()
        p = host.process("cat")
        fd = p.open("/etc/shadow", "O_RDONLY")
        v = last(host, "openat")
        assert field(v, "fd.name") == "/etc/shadow"
        assert field(v, "fd.num") == fd
        assert field(v, "evt.is_open_read") is True
        p.open("/dev/evil", "O_WRONLY|O_CREAT")
        v = last(host, "openat")
        assert field(v, "evt.is_open_write") is True

    def test_connect_tuple(self):
        host = Host()
        host.process("curl").connect("203.0.113.9", 443)
        v = last(host, "connect")
        assert field(v, "fd.sip") == "203.0.113.9"
        assert field(v, "fd.sport") == 443
        assert field(v, "fd.typechar") == "4"

    def test_container(self):
        host = Host()
        web = host.container("a1b2c3d4e5f6", image="nginx:1.25", privileged=True)
        web.process("nginx").spawn("bash", tty=34816)
        v = last(host, "execve")
        assert field(v, "container.id") == "a1b2c3d4e5f6"
        assert field(v, "container.image.repository") == "nginx"
        assert field(v, "container.privileged") is True
        assert field(v, "proc.tty") == 34816

    def test_bad_flag_is_named(self):
        with pytest.raises(ValueError, match="O_BOGUS"):
            open_flags("O_RDONLY|O_BOGUS")


@pytest.mark.oracle
class TestWrittenCapture:
    """host.write() makes a capture sysdig reads with the same fields."""

    def test_sysdig_reads_it(self, tmp_path):
        host = Host()
        sh = host.process("nginx").spawn("sh", ["-c", "cat /etc/shadow"])
        sh.open("/etc/shadow")
        path = tmp_path / "host.scap"
        host.write(path)
        out = subprocess.run(["sysdig", "-r", str(path), "evt.type=openat and evt.dir=<",
                              "-p", "%proc.name %proc.pname %fd.name"],
                             capture_output=True, text=True, check=True).stdout
        assert out.split("\n")[0] == "sh nginx /etc/shadow"
