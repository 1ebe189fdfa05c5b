"""``falcolib rules validate|list``: check rule files, list what they load (docs/contract.md)."""
from __future__ import annotations

import json
import sys



def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("rules", help="validate and list rule files")
    sub = parser.add_subparsers(dest="rules_command", required=True,
                                parser_class=type(parser))

    p = sub.add_parser("validate", help="load rule files and report every problem")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="rule file or directory (*.yaml in name order); later ones may "
                        "append to or override earlier items")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run_validate)

    p = sub.add_parser("list", help="list the loaded rules and their event types")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="rule files or directories (default: the bundled rules)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=run_list)


def run_validate(args) -> int:
    from falcolib.rules import validate_rules  # lazily: the CLI starts faster
    result = validate_rules(args.paths)
    if args.json:
        sys.stdout.write(result.to_json() + "\n")
    else:
        for issue in result.errors:
            sys.stdout.write(f"error: {issue}\n")
        for issue in result.warnings:
            sys.stdout.write(f"warning: {issue}\n")
        n_err, n_warn = len(result.errors), len(result.warnings)
        verdict = "OK" if result.successful else "FAILED"
        sys.stdout.write(f"{', '.join(args.paths)}: {verdict} "
                         f"({n_err} errors, {n_warn} warnings)\n")
    return 0 if result.successful else 1


def evttype_names(codes: frozenset[int] | None) -> list[str]:
    """Event type names for type codes; ``["all"]`` when not narrowed."""
    if codes is None:
        return ["all"]
    from falcolib.decode.table import EVENTS
    return sorted({EVENTS[c].name for c in codes if 0 <= c < len(EVENTS)})


def run_list(args) -> int:
    from falcolib.rules import load_rules
    ruleset = load_rules(args.paths or None)
    rows = [{"name": c.rule.name, "priority": c.rule.priority.label, "source": c.rule.source,
             "tags": list(c.rule.tags), "enabled": c.rule.enabled,
             "evttypes": evttype_names(c.evttypes)} for c in ruleset.compiled]
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return 0
    for row in rows:
        state = "enabled" if row["enabled"] else "disabled"
        sys.stdout.write(f"{row['name']}\t{row['priority']}\t{state}\t"
                         f"[{', '.join(row['tags'])}]\t{' '.join(row['evttypes'])}\n")
    return 0
