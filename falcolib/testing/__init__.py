"""falcolib.testing: build events, run rules, assert on alerts — with or without pytest.

The pytest fixtures in ``falcolib.testing.plugin`` are a thin layer over this.
"""
from falcolib.testing.alerts import AlertAssertionError, AlertList
from falcolib.testing.scenario import Host, open_flags
from falcolib.testing.run import RulesProblem, describe_issues, find_capture, load_ruleset, run_rules

__all__ = [
    "AlertAssertionError",
    "AlertList",
    "Host",
    "open_flags",
    "RulesProblem",
    "describe_issues",
    "find_capture",
    "load_ruleset",
    "run_rules",
]
