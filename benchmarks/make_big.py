"""Build a large capture for the benchmarks from the shared captures.

The event blocks of every shared capture are repeated, round after round,
with timestamps shifted so that time keeps moving forward, until at least
``--events`` events are written. The state (processes, fds, users,
interfaces) is the union of the captures' state blocks, first capture
winning for a thread id. ``procinfo`` events (sysdig never prints them)
are left out unless ``--keep-procinfo``, so that "print every event"
comparisons print nearly every event.

    python benchmarks/make_big.py            # -> benchmarks/out/big.scap
    sysdig -r benchmarks/out/big.scap | tail # sysdig must read it
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import attrs

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / ".." / "shared" / "captures"
DEFAULT_OUT = HERE / "out" / "big.scap"


def load(paths):
    from falcolib.decode.table import types_named
    from falcolib.scap.reader import ScapReader
    procinfo = types_named("procinfo")
    loaded = []
    for p in paths:
        r = ScapReader(p)
        snap = r.snapshot()
        events = list(r.events())
        loaded.append((p, snap, events))
    return loaded, procinfo


def merged_snapshot(loaded):
    procs, users, groups, ifaces = {}, {}, {}, {}
    machine = None
    for _, snap, _ in loaded:
        machine = machine or snap.machine
        for p in snap.processes:
            procs.setdefault(p.tid, p)
        for u in snap.users:
            users.setdefault(u.uid, u)
        for g in snap.groups:
            groups.setdefault(g.gid, g)
        for i in snap.interfaces:
            ifaces.setdefault((i.name, i.addr), i)
    first = loaded[0][1]
    return attrs.evolve(first, processes=tuple(procs.values()), users=tuple(users.values()),
                        groups=tuple(groups.values()), interfaces=tuple(ifaces.values()),
                        machine=machine)


def build(out: Path, target: int, keep_procinfo: bool = False, compress: bool = False) -> int:
    from falcolib.scap.writer import ScapWriter
    paths = sorted(SHARED.glob("*.scap"))
    if not paths:
        sys.exit(f"no captures in {SHARED}")
    loaded, procinfo = load(paths)
    rounds = []
    for _, _, events in loaded:
        kept = [e for e in events if keep_procinfo or e.type not in procinfo]
        if kept:
            rounds.append(kept)
    per_round = sum(map(len, rounds))
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    # events stamped 0 (some meta-events) keep 0; the others move forward
    spans = [(min((e.ts for e in ev if e.ts), default=0), max(e.ts for e in ev)) for ev in rounds]
    clock = min(lo for lo, _ in spans if lo)
    with ScapWriter(out, merged_snapshot(loaded), compress=compress) as w:
        write = w.write
        while written < target:
            for events, (lo, hi) in zip(rounds, spans):
                shift = clock - lo
                for e in events:
                    write(e._replace(ts=e.ts + shift) if e.ts else e)
                clock = hi + shift + 1000
                written += len(events)
    print(f"{out}: {written} events ({per_round} per round, "
          f"{out.stat().st_size / 1e6:.1f} MB)")
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--keep-procinfo", action="store_true")
    ap.add_argument("--gzip", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    build(args.out, args.events, args.keep_procinfo, args.gzip)
    print(f"built in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
