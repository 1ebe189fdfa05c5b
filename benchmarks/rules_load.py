"""Load time of Falco's official rules (stable + incubating + sandbox); target < 1 s.

    python benchmarks/rules_load.py [RULES_DIR]

Prints the first (cold: parse + compile) and a second (warm: parsed conditions
cached) load, each after importing falcolib and its field catalogue, as wall
time and as this process's CPU time (the figure to trust on a busy machine).
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
    def now():
        return time.perf_counter(), time.process_time()

    t0 = now()
    from falcolib.fields import load_field_modules
    from falcolib.rules import validate_rules
    import falcolib.filter.grammar  # noqa: F401  (import cost reported apart)
    load_field_modules()
    t1 = now()
    result = validate_rules(paths)
    t2 = now()
    validate_rules(paths)
    t3 = now()

    def span(a, b) -> str:
        return f"{b[0] - a[0]:.3f} s (cpu {b[1] - a[1]:.3f} s)"

    print(f"import: {span(t0, t1)}")
    print(f"load (cold) of {len(paths)} files: {span(t1, t2)} "
          f"({len(result.errors)} errors, {len(result.warnings)} warnings)")
    print(f"load (warm): {span(t2, t3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
