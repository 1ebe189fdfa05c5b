"""Falco rules: the model, the YAML reader, loading with Falco's semantics, the Ruleset.

    from falcolib.rules import load_rules, Rule, Priority
    ruleset = load_rules(["falco_rules.yaml", Rule("x", "evt.type = open", "%proc.name")])
"""
from falcolib.rules.compiler import CompiledRule
from falcolib.rules.loader import (
    RulesText, default_rules_paths, expand_paths, load_rules, validate_rules,
)
from falcolib.rules.model import List, Macro, Priority, Rule, RuleException
from falcolib.rules.result import Code, LoadIssue, LoadResult
from falcolib.rules.ruleset import Ruleset, Selection

__all__ = [
    "Code", "CompiledRule", "List", "LoadIssue", "LoadResult", "Macro", "Priority", "Rule",
    "RuleException", "Ruleset", "RulesText", "Selection", "default_rules_paths",
    "expand_paths", "load_rules", "validate_rules",
]
