"""Replay speed on the big capture (benchmarks/make_big.py), printed as numbers
from one run, best of ``--repeat``. Nothing here is asserted.

    python benchmarks/make_big.py && python benchmarks/replay.py

Prints, in events per second:
- a plain ``struct.unpack_from`` loop over the event headers (the floor
  Python can do, for scale),
- ``ScapReader.headers()``: header-only iteration,
- ``ScapReader.events()``: RawEvents,
- full decode: every parameter of every event decoded (``falcolib.decode``),
and the wall-time ratio of ``falcolib events BIG -p FMT`` to
``sysdig -r BIG -p FMT`` with both printing to a pipe (when the CLI exists).
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "out" / "big.scap"
CLI_FORMAT = "%evt.num %evt.type %proc.name"


def best(fn, repeat: int) -> tuple[float, int]:
    """(best seconds, result) over ``repeat`` runs of ``fn() -> count``."""
    times, n = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t0)
    return min(times), n


def plain_loop(path: Path) -> int:
    """The floor: one unpack per event header over a file read whole."""
    from falcolib.scap import format as F
    data = path.read_bytes()
    hdr = struct.Struct("<IIHQQIHI").unpack_from
    pos, end, n = 0, len(data) - 36, 0
    while pos <= end:
        bt, bl = struct.unpack_from("<II", data, pos)
        if bt in F.EVENT_BLOCKS:
            break
        pos += bl
    while pos <= end:
        h = hdr(data, pos)
        pos += h[1]
        n += 1
    return n


def headers(path: Path) -> int:
    from falcolib.scap.reader import ScapReader
    n = 0
    for _ in ScapReader(path).headers():
        n += 1
    return n


def raw_events(path: Path) -> int:
    from falcolib.scap.reader import ScapReader
    n = 0
    for _ in ScapReader(path).events():
        n += 1
    return n


def full_decode(path: Path, limit: int) -> int:
    from falcolib.decode import Event
    from falcolib.scap.reader import ScapReader
    n = 0
    for raw in ScapReader(path).events():
        evt = Event(raw)
        for i in range(raw.nparams):
            evt.value(i)
        n += 1
        if n >= limit:
            break
    return n


def timed_command(cmd: list[str]) -> float | None:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**os.environ, "TZ": "UTC"})
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  {' '.join(cmd[:2])} failed: {proc.stderr.decode(errors='replace')[:200]}")
        return None
    return dt


def cli_ratio(path: Path, nevents: int) -> None:
    falcolib = [sys.executable, "-m", "falcolib"]
    probe = subprocess.run(falcolib + ["events", "--help"], capture_output=True)
    if probe.returncode != 0:
        print("cli: `falcolib events` not available yet, skipped")
        return
    sysdig = shutil.which("sysdig")
    if sysdig is None:
        print("cli: sysdig not installed, skipped")
        return
    t_sysdig = timed_command([sysdig, "-r", str(path), "-p", CLI_FORMAT])
    t_ours = timed_command(falcolib + ["events", str(path), "-p", CLI_FORMAT])
    if t_sysdig is None or t_ours is None:
        return
    print(f"cli: sysdig -r -p {t_sysdig:.2f} s ({nevents / t_sysdig:,.0f} ev/s), "
          f"falcolib events -p {t_ours:.2f} s ({nevents / t_ours:,.0f} ev/s), "
          f"falcolib/sysdig time ratio {t_ours / t_sysdig:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--decode-limit", type=int, default=200_000,
                    help="events to fully decode (the slowest pass)")
    ap.add_argument("--no-cli", action="store_true")
    args = ap.parse_args(argv)
    path = args.capture
    if not path.exists():
        print(f"{path} missing: run python benchmarks/make_big.py first")
        return 1
    print(f"capture: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    t_plain, n = best(lambda: plain_loop(path), args.repeat)
    print(f"plain unpack loop:   {n / t_plain:12,.0f} ev/s  ({n} events)")
    t_h, n_h = best(lambda: headers(path), args.repeat)
    print(f"reader.headers():    {n_h / t_h:12,.0f} ev/s  "
          f"({t_plain / t_h:.2f} x the plain loop)")
    t_e, n_e = best(lambda: raw_events(path), args.repeat)
    print(f"reader.events():     {n_e / t_e:12,.0f} ev/s")
    try:
        t_d, n_d = best(lambda: full_decode(path, args.decode_limit), 1)
        print(f"full decode:         {n_d / t_d:12,.0f} ev/s  (first {n_d} events, "
              "every parameter)")
    except ImportError as exc:
        print(f"full decode: falcolib.decode not available ({exc})")
    if not args.no_cli:
        cli_ratio(path, n_h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
