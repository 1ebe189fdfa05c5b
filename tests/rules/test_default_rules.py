"""The bundled default rules: they load cleanly, narrow, and fire on real events.

The shared captures do not all show the five behaviours outright, so each
behaviour test tunes a list the way a user would (override: append) to make
an event of a real capture fit, then checks the rule fires on exactly the
events the capture holds (counted with sysdig beforehand, noted per test).
"""
from __future__ import annotations

import struct

import pytest

from falcolib.fields import resolve
from falcolib.rules import RulesText, default_rules_paths, load_rules, validate_rules
from falcolib.cli.rules import evttype_names

from .conftest import SHARED

CAPTURES = SHARED / "captures"


def fired(ruleset, capture, events=None):
    """(rule, proc.name, fd.name, container.id) for every alert of a replay."""
    scap = pytest.importorskip("falcolib_scap")
    from falcolib.engine import iter_views
    from falcolib.state import State
    proc_name, fd_name, cid = (resolve("proc.name"), resolve("fd.name"),
                               resolve("container.id"))
    out = []
    if events is None:
        backend = scap.ScapBackend(CAPTURES / capture)
    else:
        from falcolib.backend.memory import MemoryBackend
        backend = MemoryBackend(events)
    with backend:
        for view in iter_views(backend, state=State(backend.snapshot())):
            for c in ruleset.match(view):
                out.append((c.name, proc_name(view), fd_name(view), cid(view)))
    return out


def tuned(text: str):
    return load_rules([*default_rules_paths(), RulesText(text, "tuning.yaml")])


def append_items(name: str, *items: str) -> str:
    return (f"- list: {name}\n  items: [{', '.join(items)}]\n"
            "  override:\n    items: append\n")


class TestLoading:
    """The defaults load without any issue, and every rule is narrowed."""

    def test_clean(self):
        assert validate_rules(default_rules_paths()).issues == []

    def test_evttypes(self):
        got = {c.name: evttype_names(c.evttypes) for c in load_rules().compiled}
        assert got == {
            "Shell Spawned in Container": ["execve", "execveat"],
            "Unexpected Child of Server Process": ["execve", "execveat"],
            "Read of Sensitive File": ["open", "openat", "openat2"],
            "File Created Below /dev": ["creat", "open", "openat", "openat2"],
            "System Binary Network Connection": ["connect"],
        }

    def test_nothing_fires_on_plain_captures(self):
        # cat_write: cat reading libraries and /dev/null, writing a file: none of the five
        assert fired(load_rules(), "cat_write.scap") == []


class TestBehaviours:
    """Each rule fires on the real event it describes, once per system call."""

    def test_shell_in_container(self):
        # psp_run_as_user_0_container: bash in container 697956520d89 execs `ls` (one execve
        # exit); with ls counted as a shell the rule fires once, for that container
        rs = tuned(append_items("falcolib_shell_binaries", "ls"))
        assert fired(rs, "psp_run_as_user_0_container.scap") == [
            ("Shell Spawned in Container", "ls", None, "697956520d89")]

    def test_shell_exception(self):
        rs = tuned(append_items("falcolib_shell_binaries", "ls") + """
- rule: Shell Spawned in Container
  exceptions:
    - name: shell_parent_image
      values: [[bash, nginx]]
  override:
    exceptions: append
""")
        assert fired(rs, "psp_run_as_user_0_container.scap") == []

    def test_server_child(self):
        # the same `ls`, whose parent is bash: with bash as a server, ls is unexpected
        rs = tuned(append_items("falcolib_server_binaries", "bash"))
        assert [a[:2] for a in fired(rs, "psp_run_as_user_0_container.scap")] == [
            ("Unexpected Child of Server Process", "ls")]

    def test_sensitive_read(self):
        # cat_write: cat opens /etc/ld.so.cache read-only once (sysdig: open exit, fd 3)
        rs = tuned(append_items("falcolib_sensitive_files", "/etc/ld.so.cache"))
        assert fired(rs, "cat_write.scap") == [
            ("Read of Sensitive File", "cat", "/etc/ld.so.cache", "host")]

    def test_system_binary_connect(self):
        # curl_google: two connects to the internet (DNS over IPv6, SUCCESS; HTTP,
        # EINPROGRESS) and two failed unix-socket connects to nscd that must not count
        rs = tuned(append_items("falcolib_system_binaries", "curl"))
        got = fired(rs, "curl_google.scap")
        assert [(a[0], a[1]) for a in got] == [("System Binary Network Connection", "curl")] * 2
        assert [a[2].rsplit(":", 1)[-1] for a in got] == ["53", "80"]

    def test_file_created_below_dev(self):
        # cat_write opens /dev/null read-only; the same open exit rewritten with O_CREAT and
        # a hidden name is what the rule is about
        scap = pytest.importorskip("falcolib_scap")
        with scap.ScapBackend(CAPTURES / "cat_write.scap") as backend:
            events = list(backend)
        out = []
        for raw in events:
            data = raw.data
            if raw.type == 3 and b"/dev/null" in data:          # PPME_SYSCALL_OPEN_X
                data = _with_params(raw, {1: b"/dev/.x\x00", 2: struct.pack("<I", 1 | 2 | 4)})
                raw = raw._replace(buf=data, off=0, size=len(data))
            out.append(raw)
        got = fired(load_rules(), None, events=out)
        assert got == [("File Created Below /dev", "cat", "/dev/.x", "host")]


def _with_params(raw, new: dict[int, bytes]) -> bytes:
    """The event re-encoded with some parameters replaced (u16 length table)."""
    data = raw.data
    n = raw.nparams
    lens = list(struct.unpack_from(f"<{n}H", data, raw.hdr))
    pos = raw.hdr + 2 * n
    params = []
    for i, ln in enumerate(lens):
        params.append(new.get(i, data[pos:pos + ln]))
        pos += ln
    body = struct.pack(f"<{n}H", *(len(p) for p in params)) + b"".join(params)
    header = bytearray(data[:raw.hdr])
    struct.pack_into("<I", header, 16, raw.hdr + len(body))
    return bytes(header) + body
