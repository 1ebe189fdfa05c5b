"""The C loops (falcolib._speedups) give exactly what the pure-Python loops give."""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

import falcolib.speedups as S
from falcolib.cli import main
from falcolib.decode.table import types_named
from falcolib.scap.reader import ScapReader
from falcolib.testing import Host

CAPTURES = sorted((Path(__file__).resolve().parents[1] / ".." / "shared" / "captures").glob("*.scap"))
FORMATS = ["%evt.num %evt.type %proc.name",
           "*%evt.num %evt.cpu %evt.dir %evt.type %thread.tid %proc.pid %proc.exe %evt.rawtime",
           "%proc.name [%evt.type]",
           "%evt.num"]


def with_c(enabled: bool, monkeypatch):
    """Make falcolib.speedups answer with (or without) the C module."""
    if enabled:
        monkeypatch.setattr(S, "_MOD", False)
        monkeypatch.delenv("FALCOLIB_PURE", raising=False)
        if S.speedups() is None:
            pytest.skip("falcolib._speedups is not built here")
    else:
        monkeypatch.setattr(S, "_MOD", None)


def events_output(argv, monkeypatch) -> bytes:
    """`falcolib events ARGV` run in-process: what it wrote to stdout."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["events", *argv]) == 0
    out.flush()
    return raw.getvalue()


def both(argv, monkeypatch) -> tuple[bytes, bytes]:
    with_c(True, monkeypatch)
    fast = events_output(argv, monkeypatch)
    with_c(False, monkeypatch)
    pure = events_output(argv, monkeypatch)
    return fast, pure


class TestBuilt:
    """Where CI says so, the extension must have been built by the install."""

    def test_importable(self):
        if not os.environ.get("FALCOLIB_REQUIRE_SPEEDUPS"):
            pytest.skip("FALCOLIB_REQUIRE_SPEEDUPS not set")
        from falcolib import _speedups
        assert callable(_speedups.skip) and _speedups.Printer


class TestSkip:
    """skip(): the reader yields the same events, with the same numbers, in C and in Python."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    def test_same_events(self, cap, monkeypatch):
        types = frozenset().union(*(types_named(n) for n in ("open", "openat", "execve",
                                                               "close", "procexit")))
        seen = []
        for enabled in (True, False):
            with_c(enabled, monkeypatch)
            with ScapReader(cap, types=types) as r:
                seen.append([(e.num, e.type, e.tid, e.ts, bytes(e.buf[e.off:e.off + e.size]))
                             for e in r.events()])
                seen.append(r.events_read)
        assert seen[0] == seen[2] and seen[1] == seen[3]
        assert seen[1] > 0


class TestPrinter:
    """Printer: `falcolib events` prints the same bytes with the C printer as without."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_same_lines(self, cap, fmt, monkeypatch):
        fast, pure = both([str(cap), "-p", fmt], monkeypatch)
        assert fast == pure
        if cap.name != "empty.scap":
            assert fast   # the comparison is about something

    @pytest.mark.parametrize("cap", CAPTURES[:4], ids=lambda p: p.name)
    def test_escaped(self, cap, monkeypatch):
        fast, pure = both([str(cap), "-p", FORMATS[0], "--escape", "always"], monkeypatch)
        assert fast == pure


class TestHostileNames:
    """Names with control characters and undecodable bytes: C hands them to Python."""

    @pytest.fixture
    def capture(self, tmp_path):
        h = Host()
        shell = h.process("bash", ["-c", "x"])
        for comm in ("\x1b]0;pwned\x07", "new\nline", "caf\u00e9", "raw\udcff\udcfe", "plain"):
            p = shell.spawn(comm, ["arg"])
            fd = p.open("/etc/passwd")
            # fstat is no state event: the C printer formats it (or hands it back)
            h._emit("PPME_SYSCALL_FSTAT_E", p.pid, fd)
            h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0)
            p.write(fd, b"data")
            p.close(fd)
            p.exit()
        path = tmp_path / "hostile.scap"
        h.write(path)
        return path

    @pytest.mark.parametrize("escape", ["never", "always"])
    def test_same_bytes(self, capture, escape, monkeypatch):
        fast, pure = both([str(capture), "-p", "%evt.num %proc.name %evt.type", "--escape", escape],
                          monkeypatch)
        assert fast == pure
        assert b" plain fstat\n" in fast
        if escape == "always":
            assert b"\x1b" not in fast and b"\\x1b]0;pwned\\x07" in fast
            assert b"new\\nline" in fast
        else:
            assert b"\x1b]0;pwned\x07" in fast


FILTERS = ["fd.typechar = 4 or fd.typechar = 6",
           "evt.type in (open, openat) and evt.dir=< and fd.name startswith /etc",
           "evt.type in (open, openat, read, write) and proc.name in (bash, sshd, curl, cat)",
           "fd.name glob '/etc/*' and not proc.aname[2] in (x, y)",
           "evt.type=execve and evt.dir=<",
           "fd.sport exists and evt.latency > 0",
           "fd.num >= 0 and thread.tid > 0 and evt.dir = <",
           # proc.name/proc.exe checks decided in C (prefilter.c_checks)
           "proc.exe in (curl, /bin/cat, /usr/sbin/sshd, sshd) and evt.type in (read, write, close)",
           "proc.name = cat and fd.num >= 0 and evt.dir = >",
           "evt.type in (read, write) and proc.name in (sshd, emacs) and not fd.name contains pts",
           "(proc.aname[2] in (sshd, bash) or proc.pname in (bash, sh) or proc.aname[3] = systemd)"
           " and fd.name glob '/etc/*'",
           "(proc.pexe = bash or proc.aexe[1] in (sshd, /usr/sbin/sshd)) and evt.type in (read, write)",
           "proc.aname[1] in (bash, sh, sudo) and evt.type in (open, read)",
           "proc.aname[2] in (sshd, bash, sudo) and fd.num >= 0",
           # fd.name clauses decided in C (uses-fd events: reads, writes, fstat, close)
           "fd.name glob '/etc/*' and not fd.directory in (/opt, /tmp)",
           "evt.type in (read, write, close, fstat) and (fd.name startswith /dev or "
           "fd.name contains .so or fd.name in (/etc/passwd, /etc/ld.so.cache))",
           "fd.name glob '*:*->*:*' and evt.dir = <"]


def reference(cap: Path, condition: str, fmt: str) -> bytes:
    """What sysdig's model gives: every event through State.process, in filter order."""
    from falcolib.engine import shown_views
    from falcolib.filter import compile as compile_condition, parse
    from falcolib.outputs.format import Formatter
    from falcolib.state import State
    matcher = compile_condition(parse(condition))
    render = Formatter(fmt).line_function()
    lines = []
    with ScapReader(cap) as r:
        state = State(r.snapshot(), sysdig_filter_order=True)
        for view in shown_views(r.events(), state=state, matcher=matcher):
            line = render(view)
            if line is not None:
                lines.append(line + "\n")
    return "".join(lines).encode("utf-8", "backslashreplace")


def same_as_reference(host, tmp_path, monkeypatch, condition: str, fmt: str) -> bytes:
    """``host`` written as a capture; `falcolib events` on it with the C loop, checked
    against every-event processing; its output."""
    cap = tmp_path / "host.scap"
    host.write(cap)
    with_c(True, monkeypatch)
    got = events_output([str(cap), condition, "-p", fmt], monkeypatch)
    assert got == reference(cap, condition, fmt)
    return got


class TestStateBookkeeping:
    """With a filter, C applies the state's bookkeeping to the events Python never sees:
    the lines are those of a run that processes every event in Python."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    def test_same_as_every_event_processed(self, cap, monkeypatch):
        # (no evt.latency here: a field reading every event's bookkeeping makes the CLI
        # hand every event to Python, and this test is about the C loop's bookkeeping)
        fmt = "%evt.num %evt.type %proc.name %fd.name %fd.num %thread.tid"
        with_c(True, monkeypatch)
        printed = 0
        for condition in FILTERS:
            got = events_output([str(cap), condition, "-p", fmt], monkeypatch)
            assert got == reference(cap, condition, fmt), condition
            printed += got.count(b"\n")
        if cap.name in ("curl_google.scap", "psp_run_as_user_0_container.scap"):
            assert printed > 20   # the comparison is about something

    @pytest.mark.parametrize("between, shown", [
        ("nanosleep", ["12"]),     # no fd: the thread's last fd is none
        ("read", ["10", "12"]),    # read's fd is the thread's last fd
    ])
    def test_lost_enter_after_unseen_event(self, between, shown, tmp_path, monkeypatch):
        """An exit whose enter was lost reads the thread's last fd, which the event before
        it, one Python never sees, set: none after nanosleep, the fd after a read."""
        h = Host()
        p = h.process("bash").spawn("app")
        fd = p.open("/etc/passwd")
        if between == "nanosleep":
            h._emit("PPME_SYSCALL_NANOSLEEP_E", p.pid, 1000)
            h._emit("PPME_SYSCALL_NANOSLEEP_X", p.pid, 0, 1000)
        else:
            h._emit("PPME_SYSCALL_READ_E", p.pid, fd, 10)
            h._emit("PPME_SYSCALL_READ_X", p.pid, 4, b"root")
        h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, fd)      # its enter was lost
        h._emit("PPME_SYSCALL_FSTAT_E", p.pid, fd)
        h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0, fd)
        got = same_as_reference(h, tmp_path, monkeypatch, "evt.type=fstat and evt.dir=< and "
                                "fd.num >= 0", "%evt.num %fd.num %fd.name")
        assert [ln.split()[0] for ln in got.decode().splitlines()] == shown


class TestSpans:
    """spans(): where an event's parameters lie, as Event._load finds them in Python,
    on every shared capture's events, whole and cut short."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    def test_same_spans(self, cap, monkeypatch):
        import falcolib.decode.event as E
        mod = S.speedups()
        if mod is None:
            pytest.skip("falcolib._speedups is not built here")
        seen = 0
        with ScapReader(cap) as r:
            for raw in r.events():
                for cut in (0, 1, 7, raw.size // 2):
                    short = raw._replace(size=raw.size - cut)
                    monkeypatch.setattr(E, "_C_SPANS", None)
                    want = E.Event(short)._load()
                    monkeypatch.setattr(E, "_C_SPANS", mod.spans)
                    assert E.Event(short)._load() == want, (raw.num, cut)
                seen += 1
        assert seen or cap.name == "empty.scap"


class TestCloseInC:
    """close's parsers run in C when only the state wants close: a closed fd is gone for
    the next event, a failed close leaves it, exactly as Python's parsers do."""

    @pytest.mark.parametrize("res, shown", [(0, 0), (-9, 2)])
    def test_fd_after_close(self, res, shown, tmp_path, monkeypatch):
        h = Host()
        p = h.process("bash").spawn("app")
        fd = p.open("/etc/passwd")
        h._emit("PPME_SYSCALL_CLOSE_E", p.pid, fd)
        h._emit("PPME_SYSCALL_CLOSE_X", p.pid, res)
        h._emit("PPME_SYSCALL_FSTAT_E", p.pid, fd)
        h._emit("PPME_SYSCALL_FSTAT_X", p.pid, 0 if res else -9, fd)
        got = same_as_reference(h, tmp_path, monkeypatch,
                                "evt.type=fstat and fd.name contains passwd", "%evt.num %fd.name")
        assert len(got.splitlines()) == shown


class TestCorruptInput:
    """The C loops read lengths and numbers from the capture: with event bytes corrupted at
    random (headers kept, so the events are still framed), a run ends normally or with a
    one-line error, never a crash."""

    @pytest.mark.parametrize("seed", range(14))
    def test_no_crash(self, seed, tmp_path):
        import random
        import subprocess
        rng = random.Random(seed)
        src = CAPTURES[seed % len(CAPTURES)]
        if src.name == "empty.scap":
            src = CAPTURES[0]
        out = tmp_path / "bad.scap"
        with ScapReader(src) as r:
            snap = r.snapshot()
            events = list(r.events())
        from falcolib.scap.writer import ScapWriter
        with ScapWriter(out, snap) as w:
            for raw in events:
                data = bytearray(raw.data)
                lens_end = min(len(data), 26 + 2 * raw.nparams)
                for _ in range(rng.randrange(0, 4)):   # past the 26-byte header only
                    if len(data) > 27:
                        data[rng.randrange(26, len(data))] = rng.randrange(256)
                    if lens_end > 27 and rng.random() < 0.3:   # the parameter lengths
                        data[rng.randrange(26, lens_end)] = rng.choice((0, 1, 8, 0xFF))
                w.write(raw._replace(buf=bytes(data), off=0))
        for argv in (["-p", "%evt.num %evt.type %proc.name"],
                     ["fd.name glob '/etc/*' and proc.name in (bash, sh)", "-p", "%evt.num"],
                     ["evt.type in (open, read, close) and proc.aname[2] = sshd", "-p", "%evt.num"]):
            run = subprocess.run([sys.executable, "-m", "falcolib", "events", str(out), *argv],
                                 capture_output=True, timeout=120)
            assert run.returncode in (0, 1, 2), run.stderr[-2000:]
            assert b"Traceback" not in run.stderr, run.stderr[-2000:]


RULES = """
- rule: etc opened
  desc: t
  condition: evt.type in (open, openat) and evt.dir=< and fd.name startswith /etc
  output: "%proc.name %fd.name %fd.num"
  priority: NOTICE
- rule: ip socket io
  desc: t
  condition: evt.type in (read, write, sendto, recvfrom) and fd.typechar in (4, 6) and evt.dir=<
  output: "%proc.name %fd.name %fd.connected"
  priority: NOTICE
- rule: exec
  desc: t
  condition: evt.type=execve and evt.dir=<
  output: "%proc.name %proc.pname %proc.aname[2] %proc.cmdline"
  priority: NOTICE
- rule: library closed
  desc: t
  condition: evt.type=close and evt.dir=> and fd.name contains .so
  output: "%proc.name %fd.name"
  priority: NOTICE
"""


class TestRulesReplay:
    """`falcolib run --capture` with the C loop raises exactly the alerts of a pure-Python
    replay (rules on fd names, socket io, execs and closes)."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=lambda p: p.name)
    def test_same_alerts(self, cap, tmp_path, monkeypatch):
        rules = tmp_path / "rules.yaml"
        rules.write_text(RULES)
        argv = ["run", "--capture", str(cap), "--rules", str(rules), "--json"]
        got = []
        for enabled in (True, False):
            with_c(enabled, monkeypatch)
            raw = io.BytesIO()
            out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
            monkeypatch.setattr(sys, "stdout", out)
            assert main(argv) == 0
            out.flush()
            got.append(raw.getvalue())
        assert got[0] == got[1]
        if cap.name in ("curl_google.scap", "psp_run_as_user_0_container.scap"):
            assert got[0].count(b"\n") > 5
