"""Rules as code: build rules in Python, combine them with YAML rules, test, dump.

    python examples/rules_as_code.py [CAPTURE.scap]

1. a list, a macro and two rules written as Python objects, one condition
   as a string and one built from field expressions;
2. the bundled default rules loaded in front of them, and a YAML tuning
   appended after (later items append to / override earlier ones);
3. validation: every issue with its code and position;
4. the rules run over a capture (default: ../shared/captures/cat_write.scap);
5. the combined ruleset dumped back to Falco's YAML and loaded again.
"""
from __future__ import annotations

import sys
from pathlib import Path

from falcolib.rules import (
    List, Macro, Priority, Rule, RuleException, RulesText, default_rules_paths, load_rules,
    validate_rules,
)
from falcolib.rules.dump import dump
from falcolib.rules.expr import F, L, M

HERE = Path(__file__).resolve().parent
DEFAULT_CAPTURE = HERE.parent / ".." / "shared" / "captures" / "cat_write.scap"

# 1. items in Python
loaders = List("my_loader_files", ["/etc/ld.so.cache", "/etc/ld.so.preload"])
opened = Macro("my_open_ok", F("evt.type").in_(["open", "openat", "openat2"])
               & (F("evt.rawres") >= 0))

loader_read = Rule(
    "Loader configuration read",
    condition=M("my_open_ok") & F("fd.name").in_([L("my_loader_files")])
    & ~F("proc.name").in_(["ldconfig"]),
    output="Loader config read (file=%fd.name process=%proc.name user=%user.name)",
    priority=Priority.NOTICE,
    desc="A process read the dynamic loader's configuration.",
    tags=["example", "filesystem"],
    exceptions=[RuleException("trusted_tools", fields=["proc.name", "fd.name"],
                              values=[["sshd", "/etc/ld.so.preload"]])],
)

library_read = Rule(
    "Library opened by cat",
    condition="my_open_ok and proc.name = cat and fd.name startswith /lib",
    output="cat opened a library (file=%fd.name)",
    priority="info",
    desc="cat does not usually need more than libc.",
)

# 3'. a YAML tuning applied after everything else
TUNING = RulesText("""
- list: my_loader_files
  items: [/etc/ld.so.conf]
  override:
    items: append
""", "tuning.yaml")


def main() -> int:
    capture = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CAPTURE
    sources = [*default_rules_paths(), loaders, opened, loader_read, library_read, TUNING]

    result = validate_rules(sources)
    print(f"validation: {'OK' if result.successful else 'FAILED'}, "
          f"{len(result.errors)} errors, {len(result.warnings)} warnings")
    for issue in result.issues:
        print("  ", issue)

    ruleset = load_rules(sources)
    print(ruleset)
    for c in ruleset.compiled:
        print(f"  {c.rule.priority.label:<13} {c.name}: {c.condition.to_source()[:90]}")

    if capture.exists():
        from falcolib.testing import run_rules
        alerts = run_rules(ruleset, capture)
        print(f"{capture.name}: {len(alerts)} alerts {dict(alerts.rules())}")
        for alert in alerts[:5]:
            print("  ", alert.to_text() if hasattr(alert, "to_text") else alert.output)

    text = dump(ruleset)
    again = load_rules(RulesText(text, "dumped.yaml"))
    print(f"dumped {len(text.splitlines())} lines of YAML; reloaded the same: "
          f"{again.items == ruleset.items}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
