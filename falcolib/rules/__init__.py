"""Falco rules: the model, the YAML reader, loading with Falco's semantics, the Ruleset.

    from falcolib.rules import F, M, Rule, dump, load_rules
    mine = Rule("Shell reads shadow", M("open_read") & (F("fd.name") == "/etc/shadow")
                & F("proc.name").in_(["bash", "sh"]), "%proc.name read %fd.name", "warning")
    ruleset = load_rules(["falco_rules.yaml", mine])
    print(dump(ruleset))
"""
from falcolib.rules.compiler import CompiledRule
from falcolib.rules.dump import dump
from falcolib.rules.expr import F, L, M
from falcolib.rules.loader import (
    RulesText, default_rules_paths, expand_paths, load_rules, validate_rules,
)
from falcolib.rules.model import List, Macro, Priority, Rule, RuleException
from falcolib.rules.result import Code, LoadIssue, LoadResult
from falcolib.rules.ruleset import Ruleset, Selection

__all__ = [
    "Code", "CompiledRule", "F", "L", "List", "LoadIssue", "LoadResult", "M", "Macro",
    "Priority", "Rule", "RuleException", "Ruleset", "RulesText", "Selection",
    "default_rules_paths", "dump", "expand_paths", "load_rules", "validate_rules",
]
