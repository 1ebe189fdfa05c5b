"""Compiled filters over events built in memory, with the real field catalogue and state engine."""
from __future__ import annotations

import pytest

from falcolib.filter import compile as compile_filter, parse

scenario = pytest.importorskip("falcolib.testing.scenario")


def run(condition: str, host_builder) -> list[tuple[str, str, str]]:
    from falcolib.decode.event import Event
    from falcolib.state import State
    host = host_builder()
    matcher = compile_filter(parse(condition))
    state = State(host.snapshot())
    hits = []
    for raw in host.raw_events():
        view = state.process(Event(raw))
        if matcher(view):
            e = view.evt
            hits.append((e.name, e.dir, view.thread.comm if view.thread else ""))
    return hits


def build_host():
    host = scenario.Host()
    web = host.container("a1b2c3d4e5f6a1b2", image="nginx:1.25", privileged=True)
    nginx = web.process("nginx", ["-g", "daemon off;"])
    sh = nginx.spawn("sh", ["-c", "id"])
    fd = sh.open("/etc/shadow")
    sh.write(fd, b"\x7fELF")
    sh.close(fd)
    sh.connect("203.0.113.9", 443)
    sh.exit()
    bash = host.process("bash", user="alice")
    bash.open("/tmp/x", "O_WRONLY|O_CREAT")
    return host


class TestRealFields:
    """Conditions as rules write them select exactly the scripted events."""

    def test_open_of_shadow_by_a_shell(self):
        hits = run("evt.type in (open, openat, openat2) and evt.dir = < and "
                   "fd.name = /etc/shadow and proc.name = sh", build_host)
        assert [h[:2] for h in hits] == [(hits[0][0], "<")] and hits[0][0].startswith("open")

    def test_parent_and_ancestors(self):
        assert run("evt.type = execve and evt.dir = < and proc.pname = nginx", build_host)
        assert run("proc.aname = nginx and evt.type = close", build_host)
        assert not run("proc.aname = apache and evt.type = close", build_host)

    def test_network_tuple(self):
        hits = run("evt.type = connect and evt.dir = < and fd.sip = 203.0.113.9 "
                   "and fd.sport = 443 and fd.net = 203.0.113.0/24", build_host)
        assert len(hits) == 1
        assert not run("evt.type = connect and fd.snet = 10.0.0.0/8", build_host)
        assert not run("evt.type = connect and evt.dir = < and fd.sip != 203.0.113.9", build_host)

    def test_container_and_user(self):
        assert run("container.privileged = true and proc.name = sh and evt.type = close", build_host)
        hits = run("user.name = alice and evt.dir = <", build_host)
        assert hits and {h[2] for h in hits} == {"bash"}

    def test_buffer_and_transformers(self):
        hits = run("evt.type = write and evt.buffer bcontains 7f454c46", build_host)
        assert len(hits) == 1
        assert not run("evt.type = write and evt.buffer bcontains 00ff", build_host)
        assert run("toupper(proc.name) = SH and basename(fd.name) = shadow", build_host)
        assert run("len(fd.name) = 11 and fd.name = /etc/shadow", build_host)

    def test_field_against_field(self):
        assert run("proc.name != val(proc.pname) and proc.pname = nginx", build_host)
        assert not run("proc.name = val(proc.pname) and evt.type = close", build_host)

    def test_evttypes_match_what_is_selected(self):
        cond = "evt.type in (close, connect) and proc.name = sh"
        m = compile_filter(parse(cond))
        names = {h[0] for h in run(cond, build_host)}
        assert names == {"close", "connect"}
        from falcolib.decode import table
        assert {table.EVENTS[c].name for c in m.evttypes} == {"close", "connect"}
