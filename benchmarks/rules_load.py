"""Load time of Falco's official rules (stable + incubating + sandbox); target < 1 s.

    python benchmarks/rules_load.py [RULES_DIR]

Prints the first (cold: parse + compile) and a second (warm: parsed conditions
cached) load, each after importing falcolib and its field catalogue.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

NAMES = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else \
        Path(__file__).resolve().parents[1] / ".." / "shared" / "rules"
    paths = [root / n for n in NAMES]
    t0 = time.perf_counter()
    from falcolib.fields import load_field_modules
    from falcolib.rules import validate_rules
    import falcolib.filter.grammar  # noqa: F401  (import cost reported apart)
    load_field_modules()
    t1 = time.perf_counter()
    result = validate_rules(paths)
    t2 = time.perf_counter()
    validate_rules(paths)
    t3 = time.perf_counter()
    print(f"import: {t1 - t0:.3f} s")
    print(f"load (cold) of {len(paths)} files: {t2 - t1:.3f} s "
          f"({len(result.errors)} errors, {len(result.warnings)} warnings)")
    print(f"load (warm): {t3 - t2:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
