"""Differential tests: falcolib's filters against ``sysdig -r CAPTURE FILTER`` on every shared capture.

For each expression of tests/fixtures/filters/sysdig.txt and each capture,
the events sysdig selects and the events falcolib's compiled filter selects
are compared as multisets of ``%evt.rawtime %thread.tid %evt.type %evt.dir``.
falcolib replays each capture once (decode + state) and evaluates every
filter on every event; sysdig runs once per filter and capture.

Only events sysdig shows at all (its unfiltered output) are compared: sysdig
hides internal events such as ``procinfo`` that falcolib's replay yields.
sysdig filters an event that does not modify state *before* parsing it (and
parses it only if it passes); falcolib's one pass parses first, as Falco
does. When the two differ for a filter, that filter is replayed alone with
the state in sysdig's order, and that answer is the one compared.
A filter naming a field the catalogue does not have yet is skipped with the
field's name; a capture sysdig itself fails on for a filter is left out of
that filter's comparison; every other difference fails, listing the
differing events.

A known disagreement is written ``FILTER  #! TestName on a.scap, b.scap: why``:
TestName is a class of tests/filter/test_sysdig_known.py whose tests demonstrate
the reason (that sysdig is wrong there, or why falcolib differs). The filter must
then differ on exactly the listed captures (all of them, and no other; without
``on ...``, on at least one) and is reported as xfailed; anything else fails.
"""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from falcolib.errors import FilterCompileError, FilterSyntaxError

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "filters" / "sysdig.txt"
CAPTURE_DIR = (Path(__file__).resolve().parents[2] / ".." / "shared" / "captures").resolve()
KEY_FORMAT = "*%evt.rawtime %thread.tid %evt.type %evt.dir"
KEY_FIELDS = ("evt.rawtime", "thread.tid", "evt.type", "evt.dir")

pytestmark = pytest.mark.oracle


def _state_has_sysdig_order() -> bool:
    try:
        import inspect

        from falcolib.state import State
        return "sysdig_filter_order" in inspect.signature(State).parameters
    except ImportError:
        return False


SYSDIG_ORDER = _state_has_sysdig_order()


def table() -> list[str]:
    return [line.split("#!")[0].strip() for line in TABLE.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


KNOWN_SYNTAX = re.compile(r"(?P<test>Test\w+)(?: on (?P<captures>[\w.-]+(?:, *[\w.-]+)*))?: +(?P<why>\S.*)")


class Known:
    """A listed disagreement: the demonstrating test class, the captures, the reason."""

    def __init__(self, text: str):
        m = KNOWN_SYNTAX.fullmatch(text.strip())
        if m is None:
            raise ValueError(f"known disagreement not written 'TestName [on a.scap, ...]: why': {text!r}")
        self.test = m["test"]
        self.captures = frozenset(c.strip() for c in m["captures"].split(",")) if m["captures"] else None
        self.why = m["why"]

    def __str__(self) -> str:
        return f"{self.why} (shown by tests/filter/test_sysdig_known.py::{self.test})"


def known_disagreements() -> dict[str, str]:
    """filter -> the text after ``#!`` for every listed disagreement."""
    out = {}
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "#!" in line:
            flt, _, text = line.partition("#!")
            out[flt.strip()] = text.strip()
    return out


def table_params() -> list:
    """The filters (ids are the filter text)."""
    return [pytest.param(f, id=f) for f in table()]


def _cache_dir() -> Path:
    base = os.environ.get("FALCOLIB_ORACLE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "falcolib-oracle")
    return Path(base)


@functools.lru_cache(maxsize=64)
def _file_digest(path: str) -> bytes:
    return hashlib.sha256(Path(path).read_bytes()).digest()


def run_sysdig(sysdig: str, capture: Path, flt: str | None, fmt: str = KEY_FORMAT, *,
               cache: bool = True) -> collections.Counter:
    """sysdig's lines (the key lines by default); cached on disk by (sysdig binary,
    capture, filter, format) digests, since sysdig's answer for the same inputs never
    changes (set FALCOLIB_ORACLE_CACHE=/nonexistent/dir to force fresh runs)."""
    digest = hashlib.sha256()
    for part in (_file_digest(sysdig), _file_digest(str(capture)),
                 hashlib.sha256((flt or "").encode()).digest(),
                 hashlib.sha256(fmt.encode()).digest()):
        digest.update(part)
    cached = _cache_dir() / f"{digest.hexdigest()}.txt"
    if cache and cached.is_file():
        return collections.Counter(cached.read_text(errors="surrogateescape").splitlines())
    cmd = [sysdig, "-r", str(capture)] + ([flt] if flt else []) + ["-p", fmt]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape",
                          timeout=120)
    if proc.returncode != 0 or "error" in proc.stderr.lower():
        raise RuntimeError(f"sysdig rejected {flt!r} on {capture.name}: {proc.stderr.strip()}")
    if not cache:
        return collections.Counter(proc.stdout.splitlines())
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(proc.stdout, errors="surrogateescape")
        tmp.replace(cached)
    except OSError:
        pass  # caching is an optimization only
    return collections.Counter(proc.stdout.splitlines())


def _render(value) -> str:
    return "<NA>" if value is None else str(value)


class Replay:
    """One pass over a capture, evaluating every compiled filter on every event."""

    def __init__(self, capture: Path, matchers: dict[str, object]):
        from falcolib.decode.event import Event
        from falcolib.fields import lookup
        from falcolib.state import State
        from falcolib_scap import ScapBackend

        keys = [lookup(n).bind() for n in KEY_FIELDS]
        self.selected = {f: collections.Counter() for f in matchers}
        self.errors: dict[str, str] = {}
        items = list(matchers.items())
        with ScapBackend(str(capture)) as backend:
            state = State(backend.snapshot())
            for raw in backend:
                view = state.process(Event(raw))
                key = None
                for flt, matcher in items:
                    if flt in self.errors:
                        continue
                    try:
                        hit = matcher(view)
                    except Exception as exc:  # an extractor bug: report it on this filter
                        self.errors[flt] = f"{type(exc).__name__}: {exc}"
                        continue
                    if hit:
                        if key is None:
                            key = " ".join(_render(k(view)) for k in keys)
                        self.selected[flt][key] += 1


def replay_in_sysdig_order(capture: Path, matcher) -> collections.Counter:
    """The events one filter selects when the state follows sysdig -r FILTER: an event
    that does not modify state is filtered before its parser runs, which then runs
    only if it passed (State(sysdig_filter_order=True) with settle()/discard())."""
    from falcolib.decode.event import Event
    from falcolib.fields import lookup
    from falcolib.state import State
    from falcolib_scap import ScapBackend

    keys = [lookup(n).bind() for n in KEY_FIELDS]
    selected: collections.Counter = collections.Counter()
    with ScapBackend(str(capture)) as backend:
        state = State(backend.snapshot(), sysdig_filter_order=True)
        for raw in backend:
            view = state.process(Event(raw))
            if matcher(view):
                selected[" ".join(_render(k(view)) for k in keys)] += 1
                state.settle()
            else:
                state.discard()
    return selected


@pytest.fixture(scope="session")
def sysdig_bin() -> str:
    path = shutil.which("sysdig")
    if path is None:
        pytest.skip("sysdig is not installed")
    return path


@pytest.fixture(scope="session")
def compiled_table():
    """filter -> matcher, or the FilterCompileError it raised."""
    from falcolib.filter import compile as compile_filter, parse
    out = {}
    for flt in table():
        try:
            out[flt] = compile_filter(parse(flt))
        except (FilterCompileError, FilterSyntaxError) as exc:
            out[flt] = exc
    return out


@pytest.fixture(scope="session")
def replays(captures, compiled_table):
    try:
        import falcolib.state  # noqa: F401
        import falcolib_scap  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"replay pieces missing: {exc}")
    matchers = {f: m for f, m in compiled_table.items() if not isinstance(m, Exception)}
    return {cap.name: Replay(cap, matchers) for cap in captures}


@pytest.fixture(scope="session")
def sysdig_results(sysdig_bin, captures):
    """Lazily filled: (filter, capture name) -> Counter of sysdig's lines; None = universe."""
    cache: dict = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    def get(flt: str | None) -> dict[str, collections.Counter]:
        missing = [c for c in captures if (flt, c.name) not in cache]
        if flt is not None:  # a capture sysdig shows nothing of needs no filtered run
            for c in list(missing):
                if not get(None)[c.name]:
                    cache[(flt, c.name)] = collections.Counter()
                    missing.remove(c)
        futures = {c.name: pool.submit(run_sysdig, sysdig_bin, c, flt) for c in missing}
        for name, fut in futures.items():
            try:
                cache[(flt, name)] = fut.result()
            except RuntimeError as exc:  # sysdig fails on this capture
                cache[(flt, name)] = exc
        return {c.name: cache[(flt, c.name)] for c in captures}
    yield get
    pool.shutdown()


class TestTable:
    """The table is large and stays within what sysdig 0.29 parses."""

    def test_size(self):
        assert len(table()) >= 150

    def test_every_filter_parses(self):
        from falcolib.filter import parse
        for flt in table():
            parse(flt)

    def test_known_disagreements_name_a_demonstration(self):
        """Each listed disagreement names a test class that exists (with tests) and real captures."""
        from tests.filter import test_sysdig_known
        names = {p.name for p in CAPTURE_DIR.glob("*.scap")}
        for flt, text in known_disagreements().items():
            known = Known(text)
            cls = getattr(test_sysdig_known, known.test, None)
            assert isinstance(cls, type), f"{flt}: no class {known.test} in test_sysdig_known.py"
            assert any(n.startswith("test_") for n in vars(cls)), f"{known.test} has no tests"
            assert known.captures is None or known.captures <= names, f"{flt}: unknown capture"


@pytest.mark.parametrize("flt", table_params())
def test_same_events_as_sysdig(flt, compiled_table, replays, sysdig_results):
    """The filter selects the same events as sysdig does, on every capture."""
    matcher = compiled_table[flt]
    if isinstance(matcher, Exception):
        if isinstance(matcher, FilterCompileError) and "unknown field" in matcher.message:
            pytest.skip(f"not in the field catalogue yet: {matcher.message}")
        pytest.fail(f"falcolib refuses what sysdig accepts: {matcher}")
    universe = sysdig_results(None)
    expected = sysdig_results(flt)
    refused = {c: r for c, r in expected.items() if isinstance(r, Exception)}
    if refused and refused.keys() >= {c for c in expected if universe[c]}:
        # (captures sysdig shows nothing of are not run at all)
        pytest.fail(f"sysdig refuses the filter: {next(iter(refused.values()))}")
    problems = {}
    for capture, want in expected.items():
        if capture in refused:  # e.g. thread.totexectime: "invalid thread state ID0"
            continue
        replay = replays[capture]
        if flt in replay.errors:
            problems[capture] = f"{capture}: extraction error {replay.errors[flt]}"
            continue
        shown = universe[capture]

        def comparable(selected):
            return collections.Counter({k: min(n, shown[k]) for k, n in selected.items()
                                        if k in shown})
        got = comparable(replay.selected[flt])
        if got != want and SYSDIG_ORDER:
            # the state as sysdig -r FILTER keeps it (see replay_in_sysdig_order)
            got = comparable(replay_in_sysdig_order(CAPTURE_DIR / capture, matcher))
        if got != want:
            extra, missed = got - want, want - got
            problems[capture] = (
                f"{capture}: {sum(missed.values())} missed {sorted(missed)[:3]}, "
                f"{sum(extra.values())} extra {sorted(extra)[:3]}")
    text = known_disagreements().get(flt)
    if text is None:
        assert not problems, "\n".join(problems.values())
        return
    known = Known(text)
    where = set(problems)
    if known.captures is None:
        assert where, f"listed as a known disagreement but agrees everywhere now: {known}"
    else:
        gone, new = sorted(known.captures - where), sorted(where - known.captures)
        assert not gone and not new, (
            f"listed disagreement ({known}) no longer differs on {gone}; differs also on "
            f"{new}:\n" + "\n".join(problems.values()))
    pytest.xfail(str(known))


# ---- values both refuse: sysdig fails on the filter, falcolib names field and value ----

REFUSED = [
    ("evt.type = opne", "opne"), ("evt.type in (open, opne)", "opne"),
    ("evt.type startswith opn", "opn"), ("fd.proto = nosuchservice", "nosuchservice"),
    ("fd.port = -1", "-1"), ("fd.port = 0x16", "0x16"), ("evt.rawarg.fd = abc", "abc"),
]


@pytest.mark.parametrize("flt,bad", REFUSED, ids=[f for f, _ in REFUSED])
def test_both_refuse(flt, bad, sysdig_bin):
    """A value sysdig's filter compiler rejects is a FilterCompileError naming the field and value."""
    from falcolib.filter import compile as compile_filter, parse
    with pytest.raises(RuntimeError, match="sysdig rejected"):
        run_sysdig(sysdig_bin, CAPTURE_DIR / "cat_write.scap", flt)
    with pytest.raises(FilterCompileError) as info:
        compile_filter(parse(flt))
    assert repr(flt.split()[0]) in info.value.message and repr(bad) in info.value.message


# ---- the same through the command line: `falcolib events` vs `sysdig -r` ----
# (exercises the CLI's event-type skipping driven by matcher.evttypes, and its
# filter order, end to end; a few filters only, since each run is a process)

CLI_CASES = [
    ("curl_google.scap", "evt.type in (open, close) and fd.name startswith /etc"),
    ("curl_google.scap", "evt.type = connect or (evt.type = socket and evt.dir = <)"),
    ("curl_google.scap", "not evt.type in (mmap, mprotect, read) and proc.name = curl"),
    ("cat_write.scap", "evt.type != close and fd.num >= 0"),
    ("open-multiple-files.scap", "(evt.dir = < and fd.name glob '/tmp/*') or evt.type = execve"),
    ("single_ipv6_conn.scap", "fd.type = ipv6 and evt.type in (accept, connect, bind)"),
]


@pytest.mark.parametrize("capture,flt", CLI_CASES, ids=[f"{c}:{f}" for c, f in CLI_CASES])
def test_events_cli_matches_sysdig(capture, flt, sysdig_bin):
    """`falcolib events CAPTURE FILTER -p KEYS` prints the lines sysdig prints."""
    import sys
    path = CAPTURE_DIR / capture
    cmd = [sys.executable, "-m", "falcolib", "events", str(path), flt, "-p", KEY_FORMAT]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="surrogateescape",
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    want = run_sysdig(sysdig_bin, path, flt)
    assert want, "the case should select something"
    assert collections.Counter(proc.stdout.splitlines()) == want
