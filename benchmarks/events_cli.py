"""`falcolib events BIG -p FMT` against `sysdig -r BIG -p FMT`, both printing every event.

    python3 benchmarks/make_big.py && python3 benchmarks/events_cli.py

Prints wall and CPU time of each command (to /dev/null, best of --repeat)
and the ratio sysdig/falcolib: >= 1 means falcolib is at least as fast.
Nothing is asserted: the numbers are for the closing notes.
"""
from __future__ import annotations

import sys

from cliclock import FALCOLIB, arguments, compare, prepare

FORMATS = ["%evt.num %evt.type %proc.name", "%evt.num"]


def main(argv=None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("-p", dest="formats", action="append", help="format(s) to time")
    args = ap.parse_args(argv)
    ready = prepare(args.capture)
    if ready is None:
        return 1
    sysdig, n = ready
    for fmt in args.formats or FORMATS:
        compare(f"-p {fmt!r}", [sysdig, "-r", str(args.capture), "-p", fmt],
                FALCOLIB + ["events", str(args.capture), "-p", fmt], args.repeat, n,
                "target >= 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
