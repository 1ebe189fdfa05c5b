"""The open* exits the C loop keeps from Python (falcolib/_speedups_rules.c, filter/c_rules.py):
its parse gives the fd Python's parse_open_exit gives, its rules verdict is never FALSE
where a rule matches, and a replay raises exactly the alerts of a pure-Python replay."""
from __future__ import annotations

import collections
import io
import struct
import sys
from pathlib import Path

import pytest

import falcolib.speedups as S
from falcolib.cli import main
from falcolib.decode.table import EVENTS
from falcolib.testing import Host
from tests.test_speedups import with_c

ROOT = Path(__file__).resolve().parents[2]
CAPTURES = sorted((ROOT / ".." / "shared" / "captures").glob("*.scap"))
OFFICIAL = [ROOT / ".." / "shared" / "rules" / n for n in (
    "falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")]
OPEN_EXITS = frozenset(t for t, e in enumerate(EVENTS) if e.enum in (
    "PPME_SYSCALL_OPEN_X", "PPME_SYSCALL_CREAT_X", "PPME_SYSCALL_OPENAT_X",
    "PPME_SYSCALL_OPENAT_2_X", "PPME_SYSCALL_OPENAT2_X"))


def zoo() -> Host:
    """Every open* exit layout and path case: open, creat, old openat (exit with only the
    fd), openat (2), openat2; AT_FDCWD, a directory fd, an unknown dirfd; '.', '..', '//',
    trailing slashes, a path too long, non-printable and non-UTF-8 names; failed opens,
    lost enters, "(NULL)" enter names, O_DIRECTORY, an fd reused while it closes, a thread
    whose main thread is unknown; and files the official rules watch, on the host and in
    a container."""
    h = Host()
    e = h._emit
    sh = h.process("bash", cwd="/home/alice/")
    app = sh.spawn("app", cwd="/var/lib/app/")
    cat = sh.spawn("cat", ["/etc/shadow"])
    pid = app.pid
    # open (3) / creat (59): the name of the enter, or of the exit when the enter is lost
    for path, flags in [("/etc/ld.so.cache", 4097), ("relative/file", 1), ("../up//x/./y/", 1),
                        ("/etc/", 1025), ("..", 1), (".", 1), ("a/..", 2), ("./", 1)]:
        e("PPME_SYSCALL_OPEN_E", pid, path, flags, 0)
        e("PPME_SYSCALL_OPEN_X", pid, 5, path, flags, 0, 2049, 77)
    e("PPME_SYSCALL_OPEN_X", pid, 6, "lost/enter", 2, 0, 1, 2)          # no enter
    e("PPME_SYSCALL_OPEN_E", pid, "(NULL)", 1, 0)                        # enter without a name
    e("PPME_SYSCALL_OPEN_X", pid, 7, "/from/exit", 1, 0, 1, 2)
    e("PPME_SYSCALL_OPEN_E", pid, "/missing", 1, 0)
    e("PPME_SYSCALL_OPEN_X", pid, -2, "/missing", 1, 0, 0, 0)            # ENOENT
    e("PPME_SYSCALL_OPEN_E", pid, "x" * 1100, 1, 0)
    e("PPME_SYSCALL_OPEN_X", pid, 8, "x" * 1100, 1, 0, 0, 0)             # /PATH_TOO_LONG
    e("PPME_SYSCALL_OPEN_E", pid, b"caf\xc3\xa9\0", 1, 0)
    e("PPME_SYSCALL_OPEN_X", pid, 9, b"caf\xc3\xa9\0", 1, 0, 0, 0)       # UTF-8 name
    e("PPME_SYSCALL_OPEN_E", pid, b"bad\xff\x01\0", 1, 0)
    e("PPME_SYSCALL_OPEN_X", pid, 10, b"bad\xff\x01\0", 1, 0, 0, 0)      # not UTF-8
    e("PPME_SYSCALL_OPEN_E", pid, None, 1, 0)
    e("PPME_SYSCALL_OPEN_X", pid, 11, "/empty/enter/name", None, 0, 0, 0)  # odd widths
    e("PPME_SYSCALL_CREAT_E", pid, "/dev/newfile", 0o755)
    e("PPME_SYSCALL_CREAT_X", pid, 12, "/dev/newfile", 0o755, 3, 4, 0)
    e("PPME_SYSCALL_CREAT_E", pid, "made", 0o644)
    e("PPME_SYSCALL_CREAT_X", pid, 13, "made", 0o644, 3, 4, 0)
    # old openat: the exit has the fd only, the enter everything else
    e("PPME_SYSCALL_OPENAT_E", pid, -100, "old/at", 1, 0)
    e("PPME_SYSCALL_OPENAT_X", pid, 14)
    e("PPME_SYSCALL_OPENAT_X", pid, 15)                                   # lost enter: nothing
    # a directory fd, then paths relative to it; an unknown dirfd
    e("PPME_SYSCALL_OPENAT_2_E", pid, -100, "/usr/lib", 1025, 0)
    e("PPME_SYSCALL_OPENAT_2_X", pid, 16, -100, "/usr/lib", 1025, 0, 1, 2)
    for name in ("x86_64/libc.so.6", "../share/zoneinfo", "./a//b/", "/abs/under/at"):
        e("PPME_SYSCALL_OPENAT_2_E", pid, 16, name, 1, 0)
        e("PPME_SYSCALL_OPENAT_2_X", pid, 17, 16, name, 1, 0, 5, 6)
    e("PPME_SYSCALL_OPENAT_2_E", pid, 99, "nowhere", 1, 0)
    e("PPME_SYSCALL_OPENAT_2_X", pid, 18, 99, "nowhere", 1, 0, 0, 0)      # <UNKNOWN> dirfd
    e("PPME_SYSCALL_OPENAT_2_X", pid, 19, -100, "exit/only", 2, 0, 0, 0)  # lost enter
    e("PPME_SYSCALL_OPENAT_2_E", pid, -100, "(NULL)", 1, 0)
    e("PPME_SYSCALL_OPENAT_2_X", pid, 20, -100, "named/by/exit", 1, 0, 0, 0)
    # openat2
    e("PPME_SYSCALL_OPENAT2_E", pid, -100, "two/at", 2, 0, 0)
    e("PPME_SYSCALL_OPENAT2_X", pid, 21, -100, "two/at", 2, 0, 0, 9, 10)
    e("PPME_SYSCALL_OPENAT2_E", pid, 16, "/etc/passwd", 1, 0, 0)
    e("PPME_SYSCALL_OPENAT2_X", pid, -13, 16, "/etc/passwd", 1, 0, 0, 0, 0)  # EACCES
    # an fd number reused between close's enter and exit
    fd = app.open("/tmp/first")
    e("PPME_SYSCALL_CLOSE_E", pid, fd)
    e("PPME_SYSCALL_OPENAT_2_E", pid, -100, "/tmp/second", 1, 0)
    e("PPME_SYSCALL_OPENAT_2_X", pid, fd, -100, "/tmp/second", 1, 0, 0, 0)
    e("PPME_SYSCALL_CLOSE_X", pid, 0)
    e("PPME_SYSCALL_FSTAT_E", pid, fd)
    e("PPME_SYSCALL_FSTAT_X", pid, 0, fd)
    # a thread whose process (main thread) the state never saw
    e("PPME_SYSCALL_OPENAT_2_E", 777, -100, "orphan", 1, 0)
    e("PPME_SYSCALL_OPENAT_2_X", 777, 3, -100, "orphan", 1, 0, 0, 0)
    # what the official rules watch
    cat.open("/etc/shadow")
    sh.open("/etc/hosts", "O_WRONLY|O_CREAT")
    sh.open("/usr/bin/evil", "O_WRONLY|O_CREAT|O_TRUNC")
    sh.open("/root/.ssh/authorized_keys", "O_WRONLY|O_APPEND")
    sh.open("/var/log/syslog", "O_WRONLY|O_TRUNC")
    sh.open("/home/alice/.bashrc", "O_WRONLY")
    sh.open("/etc/cron.d/job", "O_WRONLY|O_CREAT")
    sh.open("/dev/sda", "O_RDONLY")
    web = h.container("a1b2c3d4e5f6", image="nginx:1.25", privileged=True)
    nginx = web.process("nginx").spawn("tar", ["cf", "-", "/data"])
    nginx.open("/proc/1/environ")
    nginx.open("/host/etc/passwd")
    nginx.open("/dev/sda")
    nginx.open("/data/file")
    for p in (sh, app, cat, nginx):
        p.open("/lib/x86_64-linux-gnu/libc.so.6", "O_RDONLY|O_CLOEXEC")
        p.open("/proc/self/status")
    return h


@pytest.fixture(scope="module")
def zoo_capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "open_zoo.scap"
    zoo().write(path)
    return path


@pytest.fixture(scope="module")
def v2(tmp_path_factory) -> dict[str, Path]:
    """Every shared capture in v2 event blocks (26-byte headers), the only ones the C loop
    reads: the older captures (22-byte headers) rewritten, event for event."""
    from falcolib.scap.reader import ScapReader
    from falcolib.scap.writer import ScapWriter
    out = {}
    tmp = tmp_path_factory.mktemp("v2")
    for cap in CAPTURES:
        with ScapReader(cap) as r:
            raws = list(r.events())
            if all(raw.hdr == 26 for raw in raws):
                out[cap.name] = cap
                continue
            path = out[cap.name] = tmp / cap.name
            with ScapWriter(path, r.snapshot()) as w:
                for raw in raws:
                    w.write(raw)
    return out


def capture(name: str, zoo_capture: Path, v2: dict) -> Path:
    return zoo_capture if name == "zoo" else v2[name]


def run_alerts(argv, monkeypatch) -> list[dict]:
    """`falcolib run ARGV --json` in-process: its alerts."""
    import json
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="utf-8",
                                                        write_through=True))
    assert main(["run", *argv, "--json"]) == 0
    sys.stdout.flush()
    return [json.loads(ln) for ln in raw.getvalue().decode().splitlines() if ln.startswith("{")]


def by_rule(alerts) -> collections.Counter:
    return collections.Counter(a["rule"] for a in alerts)


class TestSameAlerts:
    """`run --capture` with the C loop raises the alerts of a pure-Python replay, rule by
    rule and line by line, with the official rules and with the default ones."""

    @pytest.mark.parametrize("rules", ["official", "default"])
    def test_shared_captures_and_zoo(self, rules, zoo_capture, v2, monkeypatch):
        rule_args = [a for p in OFFICIAL for a in ("--rules", str(p))] if rules == "official" \
            else []
        total = collections.Counter()
        for cap in [*CAPTURES, *(p for p in v2.values() if p not in CAPTURES), zoo_capture]:
            argv = ["--capture", str(cap), *rule_args]
            with_c(True, monkeypatch)
            fast = run_alerts(argv, monkeypatch)
            with_c(False, monkeypatch)
            pure = run_alerts(argv, monkeypatch)
            assert by_rule(fast) == by_rule(pure), cap.name
            assert fast == pure, cap.name
            total += by_rule(pure)
        if rules == "official":   # the zoo trips the open rules it was written for
            for name in ("Read sensitive file untrusted", "Write below etc",
                         "Write below binary dir", "Read environment variable from /proc files",
                         "Container Access to Host Sensitive Paths"):
                assert total[name] > 0, name


class TestOpenParse:
    """The fds C adds for open* exits are those parse_open_exit adds: every later event's
    fd fields agree with a replay that processes every event in Python, and C did parse
    most of the zoo's opens itself."""

    FMT = ("%evt.num %evt.type %fd.num %fd.typechar %fd.name %fd.nameraw %fd.directory "
           "%fd.filename %fd.ino %fd.dev")

    @pytest.mark.parametrize("cap", ["zoo", *[c.name for c in CAPTURES]])
    def test_fd_fields_after_open(self, cap, zoo_capture, v2, monkeypatch):
        from falcolib.state import engine as E
        from tests.test_speedups import events_output, reference
        path = capture(cap, zoo_capture, v2)
        condition = "evt.type in (fstat, close, read, write, mmap) and evt.dir = <"
        with_c(True, monkeypatch)
        seen = collections.Counter()
        real = E.State.process

        def counting(self, evt):
            if evt.type in OPEN_EXITS:
                seen[evt.type] += 1
            return real(self, evt)
        monkeypatch.setattr(E.State, "process", counting)
        got = events_output([str(path), condition, "-p", self.FMT], monkeypatch)
        monkeypatch.setattr(E.State, "process", real)
        assert got == reference(path, condition, self.FMT)
        if cap == "zoo":
            in_python = sum(seen.values())
            assert 0 < in_python < 30      # the declined ones only (odd bytes, no fd...)

    @pytest.mark.parametrize("condition", [
        "evt.type in (open, openat, openat2, creat) and evt.dir = < and proc.name = app",
        "evt.type in (open, openat, openat2, creat) and proc.name in (bash, cat) and "
        "fd.name startswith /etc",
        "evt.type = openat and fd.name contains lib and proc.name != bash",
    ])
    def test_open_filters(self, condition, zoo_capture, monkeypatch):
        """`falcolib events` filtering open* events themselves: the filter's proc checks
        run in C before the parse, fd.name ones go to Python; lines as the reference's."""
        from tests.test_speedups import events_output, reference
        with_c(True, monkeypatch)
        got = events_output([str(zoo_capture), condition, "-p", self.FMT], monkeypatch)
        assert got == reference(zoo_capture, condition, self.FMT)
        assert got.count(b"\n") >= 3

    def test_fd_tables_after_zoo(self, zoo_capture, monkeypatch):
        """The whole fd tables after the zoo, C loop against Python."""
        from falcolib.backend import open_backend
        from falcolib.cli.events_fast import replay_state
        from falcolib.engine import Engine
        from falcolib.rules import load_rules
        tables = []
        for enabled in (True, False):
            with_c(enabled, monkeypatch)
            eng = Engine(load_rules([str(p) for p in OFFICIAL]))
            types = eng.wanted_types(False, lean=True, high_volume=True)
            be = open_backend("scap", path=str(zoo_capture), types=None if enabled else types)
            with be:
                state = replay_state(be, eng, types) if enabled else None
                if state is None:
                    from falcolib.state import State
                    state = State(be.snapshot())
                eng.run(be, lambda a: None, state=state)
            tables.append({tid: {fd: (f.type, f.name, f.openflags, f.flags, f.dev, f.ino,
                                      f.nameraw) for fd, f in t.fds.items()}
                           for tid, t in state.threads.items() if t.fds})
        assert tables[0] == tables[1]
        assert sum(len(v) for v in tables[0].values()) > 20


class TestFullTable:
    """A process whose fd table is full: the open goes to Python, which drops the fd as
    sysdig does (State.add_fd); tables and alerts as a replay of every event in Python."""

    @staticmethod
    def replay(path: Path, c: bool, max_fds: int):
        from falcolib.cli.events_fast import make_printer
        from falcolib.decode.event import Event
        from falcolib.engine import Engine
        from falcolib.rules import load_rules
        from falcolib.scap.reader import ScapReader
        from falcolib.state import State, wanted_types as state_types
        from falcolib.state.groups import canonical
        eng = Engine(load_rules([str(p) for p in OFFICIAL]))
        types = eng.wanted_types(False, lean=True, high_volume=True)
        alerts = []
        with ScapReader(path) as r:
            state = State(r.snapshot(), max_fds=max_fds)
            if c:
                lean = state_types(False, canonical(eng.used_fields()))
                assert make_printer(r, None, state, False, types, show=False, lean=lean,
                                    scan=frozenset(eng.ruleset.evttypes()),
                                    rules=eng.ruleset) is not None
            for raw in r.events():
                alerts += [a.rule for a in eng.process(state.process(Event(raw)))]
        return alerts, {tid: {fd: (f.name, f.flags) for fd, f in t.fds.items()}
                        for tid, t in state.threads.items()}

    def test_same_as_python(self, zoo_capture, monkeypatch):
        with_c(True, monkeypatch)
        fast = self.replay(zoo_capture, True, 6)
        pure = self.replay(zoo_capture, False, 6)
        assert fast == pure
        assert max(len(t) for t in fast[1].values()) == 6 and fast[0]


class TestCorruptInput:
    """The open parse and the rules read paths, lengths and numbers from the capture: with
    the zoo's event bytes corrupted at random (headers kept), `run --capture` with the
    official rules ends normally or with a one-line error, never a crash, and says what
    the pure-Python replay says."""

    @pytest.mark.parametrize("seed", range(6))
    def test_no_crash(self, seed, zoo_capture, tmp_path):
        import random
        import subprocess
        from falcolib.scap.reader import ScapReader
        from falcolib.scap.writer import ScapWriter
        rng = random.Random(seed)
        out = tmp_path / "bad.scap"
        with ScapReader(zoo_capture) as r:
            snap = r.snapshot()
            events = list(r.events())
        with ScapWriter(out, snap) as w:
            for raw in events:
                data = bytearray(raw.data)
                lens_end = min(len(data), 26 + 2 * raw.nparams)
                for _ in range(rng.randrange(0, 4) if raw.type in OPEN_EXITS | {
                        t - 1 for t in OPEN_EXITS} else 0):
                    if len(data) > 27:
                        data[rng.randrange(26, len(data))] = rng.randrange(256)
                    if lens_end > 27 and rng.random() < 0.3:   # the parameter lengths
                        data[rng.randrange(26, lens_end)] = rng.choice((0, 1, 8, 0xFF))
                w.write(raw._replace(buf=bytes(data), off=0))
        import os
        rules = [a for p in OFFICIAL for a in ("--rules", str(p))]
        runs = []
        for pure in ("", "1"):
            env = {k: v for k, v in os.environ.items() if k != "FALCOLIB_PURE"}
            if pure:
                env["FALCOLIB_PURE"] = pure
            run = subprocess.run([sys.executable, "-m", "falcolib", "run", "--capture",
                                  str(out), "--json", *rules], capture_output=True,
                                 timeout=120, env=env)
            assert run.returncode in (0, 1, 2), run.stderr[-2000:]
            assert b"Traceback" not in run.stderr, run.stderr[-2000:]
            runs.append((run.returncode, run.stdout))
        assert runs[0] == runs[1]


def block_of(raw) -> bytes:
    """The event as the C loop reads it: a v2 block header, the cpu, the event."""
    data = bytes(raw.buf[raw.off:raw.off + raw.size])
    return struct.pack("<IIH", 0x216, 10 + len(data), raw.cpu) + data


class _Reader:
    """What make_printer needs of a reader, to get a Printer for decide()."""
    max_type = len(EVENTS)

    def set_fast(self, printer, flush):
        self.printer = printer


def per_rule_printers(ruleset, state):
    """(rule, Printer) for every active rule an open* exit meets: the Printer holds that
    one rule's program."""
    from falcolib.cli.events_fast import make_printer
    from falcolib.rules.ruleset import Ruleset
    rules = {id(r): r for t in OPEN_EXITS for r in ruleset.matcher_for(t)}
    out = []
    for rule in rules.values():
        reader = _Reader()
        assert make_printer(reader, None, state, False, OPEN_EXITS, show=False, lean=OPEN_EXITS,
                            scan=OPEN_EXITS, rules=Ruleset([rule])) is not None
        out.append((rule, reader.printer))
    return out


def default_rules() -> list[str]:
    import falcolib.rules as R
    return [str(p) for p in sorted((Path(R.__file__).parent / "default").glob("*.yaml"))]


class TestKleene:
    """The three-valued verdict C gives each official (and default) rule on each open* exit
    of the shared captures and the zoo, before the state saw it: FALSE only where Python's
    matcher is False, TRUE only where it is True."""

    @pytest.mark.parametrize("cap", ["zoo", *[c.name for c in CAPTURES]])
    def test_verdicts(self, cap, zoo_capture, v2):
        if S.speedups() is None:
            pytest.skip("falcolib._speedups is not built here")
        from falcolib.decode.event import Event
        from falcolib.rules import load_rules
        from falcolib.scap.reader import ScapReader
        from falcolib.state import State
        path = capture(cap, zoo_capture, v2)
        ruleset = load_rules([str(p) for p in OFFICIAL] + default_rules())
        verdicts = collections.Counter()
        with ScapReader(path) as r:
            state = State(r.snapshot())
            printers = per_rule_printers(ruleset, state)
            for raw in r.events():
                if raw.type not in OPEN_EXITS:
                    state.process(Event(raw))
                    continue
                said = [p.decide(block_of(raw), raw.num) for _rule, p in printers]
                view = state.process(Event(raw))
                for (rule, _p), v in zip(printers, said):
                    matched = bool(rule.matcher(view))
                    verdicts[v] += 1
                    if v == 0:
                        assert not matched, (raw.num, rule.name)
                    elif v == 1:
                        assert matched, (raw.num, rule.name)
        if cap in ("zoo", "curl_google.scap", "open-multiple-files.scap"):
            assert verdicts[0] > 100     # C decides most of them
        if cap == "zoo":
            assert verdicts[None] > 0 and verdicts[2] > 0


class TestFolding:
    """What c_rules.build makes of conditions: constants per type, C tests, UNKNOWN."""

    def _tree(self, condition: str, t_enum: str):
        from falcolib.filter import c_rules
        from falcolib.filter import compile as compile_condition, parse
        t = next(i for i, e in enumerate(EVENTS) if e.enum == t_enum)
        prog = c_rules.Program()
        matcher = compile_condition(parse(condition))
        return c_rules.fold(matcher.condition, t, prog), prog

    def test_type_folded(self):
        tree, _ = self._tree("evt.type = creat and fd.name = /x", "PPME_SYSCALL_OPEN_X")
        assert tree == 0
        tree, prog = self._tree("evt.type in (open, creat) and fd.name = /x",
                                "PPME_SYSCALL_OPEN_X")
        assert tree == ("test", 0) and prog.tests == [(1, 1, 0, 0, "/x")]

    def test_open_flags_false_without_exit_flags(self):
        tree, _ = self._tree("evt.is_open_read = true", "PPME_SYSCALL_OPENAT_X")
        assert tree == 0
        tree, _ = self._tree("not evt.is_open_write = true", "PPME_SYSCALL_CREAT_X")
        assert tree == 1

    def test_unknown_leaves(self):
        tree, _ = self._tree("proc.cmdline contains x", "PPME_SYSCALL_OPEN_X")
        assert tree == 2
        tree, _ = self._tree("fd.name pmatch (/etc)", "PPME_SYSCALL_OPEN_X")
        assert tree == 2
        tree, _ = self._tree("proc.aname = x", "PPME_SYSCALL_OPEN_X")   # any ancestor
        assert tree == 2
        tree, _ = self._tree("fd.name glob '/etc/[a-z]*'", "PPME_SYSCALL_OPEN_X")
        assert tree == 2

    def test_result_fields(self):
        tree, prog = self._tree("evt.rawres >= 0 and evt.res = SUCCESS", "PPME_SYSCALL_OPENAT_2_X")
        assert tree == ("and", [("test", 0), ("test", 1)])
        assert [t[0] for t in prog.tests] == [11, 12]

    def test_kleene_and_or(self):
        tree, _ = self._tree("proc.cmdline contains x and evt.type = creat",
                             "PPME_SYSCALL_OPEN_X")
        assert tree == 0      # UNKNOWN and FALSE
        tree, _ = self._tree("proc.cmdline contains x or evt.type = open",
                             "PPME_SYSCALL_OPEN_X")
        assert tree == 1      # UNKNOWN or TRUE

    def test_program_only_where_c_can_be_false(self):
        from falcolib.filter import c_rules
        from falcolib.rules import load_rules
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            p = Path(tmp) / "r.yaml"
            p.write_text("- rule: r\n  desc: d\n  condition: evt.type = open and evt.dir = < "
                         "and proc.cmdline contains x\n  output: o\n  priority: NOTICE\n")
            prog = c_rules.build(load_rules([str(p)]), OPEN_EXITS)
            assert 3 not in prog.roots       # open: Python decides
            assert 59 in prog.roots          # creat: no rule, FALSE
            p.write_text("- rule: r\n  desc: d\n  condition: evt.type = open and evt.dir = < "
                         "and proc.cmdline contains x and fd.name startswith /etc/\n"
                         "  output: o\n  priority: NOTICE\n")
            prog = c_rules.build(load_rules([str(p)]), OPEN_EXITS)
            assert prog is not None and 3 in prog.roots
