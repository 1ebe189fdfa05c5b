"""pytest fixtures for rule authors (registered through the ``pytest11`` entry point).

This module imports nothing heavy: falcolib's engine, backends and bcc are
loaded only when a fixture is used.

Fixtures:
- ``falco_capture_dirs``  directories searched for captures by name (override it, or set the
  ini option ``falcolib_capture_dirs`` / env ``FALCOLIB_CAPTURE_DIRS``, ``:``-separated)
- ``falco_capture``       ``falco_capture("name")`` → Path of a capture in those directories
- ``falco_rules``         ``falco_rules(*sources)`` → Ruleset (files, dirs, YAML text, rule
  objects); a load problem fails the test listing every issue as ``file:line:col CODE message``
- ``falco_default_rules`` the bundled default Ruleset (session-scoped)
- ``falco_host``          a fresh Host: ``host.process("nginx").spawn("sh").open("/etc/shadow")``,
  containers, users; replayed by ``falco_run(host)`` with the state following
- ``falco_events``        a low-level EventBuilder: any driver event by its enum name
- ``falco_run``           ``falco_run(source, rules=None, rule_matching="first")`` → AlertList
Marker ``live``: the test needs root and the eBPF backend; skipped with the reason elsewhere
(or failed, when ``FALCOLIB_REQUIRE_LIVE=1``, as in falcolib's own CI).
"""
from __future__ import annotations

import os

import pytest


def pytest_addoption(parser) -> None:
    parser.addini("falcolib_capture_dirs", "directories searched for captures by name",
                  type="paths", default=[])


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "live: needs root and a kernel with eBPF (falcolib)")


def live_unavailable_reason() -> str | None:
    """Why live eBPF tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "live eBPF tests need root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
    if not (os.path.isdir("/usr/lib/python3/dist-packages/bcc") or _importable("bcc")):
        return "bcc is not installed (apt-get install python3-bpfcc)"
    return None


def _importable(name: str) -> bool:
    import importlib.util
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("live") is not None:
        reason = live_unavailable_reason()
        if reason is not None:
            if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":  # CI: a live test must run
                pytest.fail(f"live test cannot run: {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture(scope="session")
def falco_capture_dirs(pytestconfig) -> list:
    """Directories searched by ``falco_capture``/``falco_run`` for captures given by name."""
    dirs = [str(p) for p in pytestconfig.getini("falcolib_capture_dirs")]
    env = os.environ.get("FALCOLIB_CAPTURE_DIRS")
    if env:
        dirs += [d for d in env.split(":") if d]
    return dirs


@pytest.fixture
def falco_capture(falco_capture_dirs):
    """``falco_capture(name)``: the Path of a capture, by path or by name in the capture dirs."""
    from falcolib.testing.run import find_capture

    def find(name):
        return find_capture(name, falco_capture_dirs)
    return find


@pytest.fixture(scope="session")
def _falco_rules_cache() -> dict:
    return {}


@pytest.fixture
def falco_rules(_falco_rules_cache):
    """``falco_rules(*sources)``: a loaded Ruleset; a load problem fails the test with every issue."""
    from falcolib.testing.run import RulesProblem, load_ruleset

    def load(*sources):
        key = tuple(str(s) if isinstance(s, (str, os.PathLike)) else id(s) for s in sources)
        if key not in _falco_rules_cache:
            problem = None
            try:
                _falco_rules_cache[key] = load_ruleset(*sources)
            except RulesProblem as exc:
                problem = str(exc)
            if problem is not None:  # outside the except: no chained traceback in the report
                pytest.fail(problem, pytrace=False)
        return _falco_rules_cache[key]
    return load


@pytest.fixture(scope="session")
def falco_default_rules():
    """The bundled default rules, loaded once per session."""
    from falcolib.testing.run import load_ruleset
    return load_ruleset()


@pytest.fixture
def falco_host():
    """A fresh in-memory Host: processes, containers and their syscalls, replayable by falco_run."""
    from falcolib.testing.scenario import Host
    return Host()


@pytest.fixture
def falco_events():
    """A fresh EventBuilder: build execve/open/connect events in memory; state follows."""
    from falcolib.testing.events import EventBuilder
    return EventBuilder()


@pytest.fixture
def falco_run(falco_capture_dirs, falco_default_rules):
    """``falco_run(source, rules=None, rule_matching="first")`` → AlertList.

    ``source``: a capture path or name, an EventBuilder, a backend, or RawEvents;
    ``rules``: a Ruleset or what ``falco_rules`` takes (default: the bundled rules).
    """
    from falcolib.testing.run import RulesProblem, run_rules

    def run(source, rules=None, rule_matching: str = "first"):
        problem = None
        try:
            return run_rules(rules if rules is not None else falco_default_rules, source,
                             rule_matching=rule_matching, capture_dirs=falco_capture_dirs)
        except RulesProblem as exc:
            problem = str(exc)
        pytest.fail(problem, pytrace=False)
    return run
