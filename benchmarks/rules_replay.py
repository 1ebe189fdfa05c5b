"""What the official rules add to a replay: `falcolib run --capture BIG` with the three
official rule files against `falcolib events BIG -p %evt.num` (the bare replay).

    python3 benchmarks/make_big.py && python3 benchmarks/rules_replay.py

Prints wall and CPU time of both, events/s of the rules run and the added
cost in percent (target, issue 4: at most +50%). Since `events -p %evt.num`
needs no state engine (it only decodes headers), the cost is also given
against two replays that keep the state as the rules run does: `events` with
a state field, and `run` with an empty rules file. Nothing is asserted.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from cliclock import DEFAULT_BIG, FALCOLIB, HERE, count_events, describe, measure, warm

RULES = sorted((HERE.parent / ".." / "shared" / "rules").glob("*.yaml"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", type=Path, default=DEFAULT_BIG)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.capture.exists() or not RULES:
        print("needs the big capture (benchmarks/make_big.py) and ../shared/rules")
        return 1
    n = count_events(args.capture)
    warm(args.capture)
    print(f"capture {args.capture} ({n} events); rules: {', '.join(p.name for p in RULES)}")
    bare = measure(FALCOLIB + ["events", str(args.capture), "-p", "%evt.num"], args.repeat)
    stateful = measure(FALCOLIB + ["events", str(args.capture), "-p", "*%evt.num %proc.name"],
                       args.repeat)
    rule_args = [a for p in RULES for a in ("--rules", str(p))]
    ruled = measure(FALCOLIB + ["run", "--capture", str(args.capture), *rule_args], args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.yaml"
        empty.write_text("- list: nothing\n  items: []\n")
        norules = measure(FALCOLIB + ["run", "--capture", str(args.capture), "--rules", str(empty)],
                          args.repeat)
    load = measure(FALCOLIB + ["rules", "validate", *[str(p) for p in RULES]], args.repeat)
    print("  " + describe("events -p %evt.num (bare)", bare, n))
    print("  " + describe("events -p '*%evt.num %proc.name'", stateful, n))
    print("  " + describe("run --capture, no rule", norules, n))
    print("  " + describe("run --capture (3 rule files)", ruled, n))
    print(f"  rules run: {n / ruled.cpu:,.0f} events/s (cpu)")
    for label, base in [("events -p %evt.num (no state: the issue's baseline)", bare),
                        ("events with state (-p '*%evt.num %proc.name')", stateful),
                        ("run with no rule (same state and event types)", norules)]:
        print(f"  rules add vs {label}: wall {100 * (ruled.wall / base.wall - 1):+.0f}%  "
              f"cpu {100 * (ruled.cpu / base.cpu - 1):+.0f}%  (target <= +50%)")
    print(f"  rules validate (load of the 3 files, process total): wall {load.wall:.2f} s "
          f"cpu {load.cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
