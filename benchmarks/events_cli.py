"""`falcolib events BIG -p FMT` against `sysdig -r BIG -p FMT`, both printing every event.

    python3 benchmarks/make_big.py && python3 benchmarks/events_cli.py

Prints wall and CPU time of each command (to /dev/null, best of --repeat)
and the ratio sysdig/falcolib: >= 1 means falcolib is at least as fast.
Nothing is asserted: the numbers are for the closing notes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from cliclock import DEFAULT_BIG, FALCOLIB, compare, count_events, warm

FORMATS = ["%evt.num %evt.type %proc.name", "%evt.num"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", type=Path, default=DEFAULT_BIG)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("-p", dest="formats", action="append", help="format(s) to time")
    args = ap.parse_args(argv)
    sysdig = shutil.which("sysdig")
    if not args.capture.exists() or sysdig is None:
        print("needs the big capture (benchmarks/make_big.py) and sysdig")
        return 1
    n = count_events(args.capture)
    warm(args.capture)
    print(f"capture {args.capture} ({n} events)")
    for fmt in args.formats or FORMATS:
        compare(f"-p {fmt!r}", [sysdig, "-r", str(args.capture), "-p", fmt],
                FALCOLIB + ["events", str(args.capture), "-p", fmt], args.repeat, n,
                "target >= 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
