"""`falcolib events BIG FILTER -p %evt.num` against sysdig for five filters, cheap to heavy.

    python3 benchmarks/make_big.py && python3 benchmarks/filters_cli.py

Both commands print the (few) matching events to /dev/null. Prints wall and
CPU time, the per-event CPU cost in microseconds and the ratio
sysdig/falcolib (>= 1: falcolib at least as fast). Targets (issue 3): the
evt.type filter >= 1, the heavy ones >= 0.3. Nothing is asserted.
"""
from __future__ import annotations

import sys

from cliclock import FALCOLIB, arguments, compare, prepare

NAMES50 = ", ".join(f"prog{i}" for i in range(49)) + ", sshd"
PATHS50 = ", ".join(f"/opt/app{i}" for i in range(49)) + ", /etc"
FILTERS = [
    ("cheap: evt.type", "evt.type=openat"),
    ("type + fd.name prefix", "evt.type in (open, openat) and evt.dir=< and fd.name startswith /etc"),
    ("proc.name in 50", f"evt.type in (open, openat, read, write) and proc.name in ({NAMES50})"),
    ("anames + glob", "evt.type in (open, openat, execve) and (proc.aname[2]=sshd or "
                      "proc.aname[3]=systemd or proc.pname=bash) and fd.name glob '/etc/*'"),
    ("heavy: aname/glob/50 lists", f"(proc.aname[2] in ({NAMES50}) or proc.aname[3]=systemd or "
                                   f"proc.pname in ({NAMES50})) and fd.name glob '/etc/*' and "
                                   f"not fd.directory in ({PATHS50})"),
]


def main(argv=None) -> int:
    ap = arguments(__doc__)
    ap.add_argument("--only", type=int, default=None, help="run only filter number N (0-based)")
    args = ap.parse_args(argv)
    ready = prepare(args.capture)
    if ready is None:
        return 1
    sysdig, n = ready
    for k, (label, flt) in enumerate(FILTERS):
        if args.only is not None and k != args.only:
            continue
        compare(f"[{k}] {label}: {flt[:90]}{'...' if len(flt) > 90 else ''}",
                [sysdig, "-r", str(args.capture), flt, "-p", "%evt.num"],
                FALCOLIB + ["events", str(args.capture), flt, "-p", "%evt.num"], args.repeat, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
