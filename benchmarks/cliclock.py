"""Timing of command lines for the CLI benchmarks: wall time and the child's CPU time.

The machine is shared, so wall time is noisy: every result gives both the
wall time and the CPU time (user + system, from ``getrusage(RUSAGE_CHILDREN)``)
of the command, best of ``repeat`` runs. Output goes to /dev/null for every
command alike. Python children get a byte-code cache outside the repository
(``PYTHONPYCACHEPREFIX`` under benchmarks/out) so that, as in an installed
package, modules are not recompiled on every start; ``warm`` fills it.
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import attrs

HERE = Path(__file__).resolve().parent
DEFAULT_BIG = HERE / "out" / "big.scap"
FALCOLIB = [sys.executable, "-m", "falcolib"]


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(HERE / "out" / "pycache")
    env["TZ"] = "UTC"
    return env


@attrs.frozen
class Timing:
    """Best wall and CPU seconds of a command over the runs made."""

    wall: float
    cpu: float

    def ratio(self, other: "Timing") -> tuple[float, float]:
        """(wall, cpu) ratio of ``other`` to self: >= 1 means self is at least as fast."""
        return other.wall / self.wall, other.cpu / self.cpu


def run_once(cmd: list[str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=child_env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {proc.stderr.decode(errors='replace')[:300]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def measure(cmd: list[str], repeat: int = 1) -> Timing:
    runs = [run_once(cmd) for _ in range(max(1, repeat))]
    return Timing(min(r.wall for r in runs), min(r.cpu for r in runs))


def warm(capture: Path) -> None:
    """One short falcolib run: fills the byte-code cache."""
    subprocess.run(FALCOLIB + ["events", str(capture), "--limit", "1"], env=child_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(FALCOLIB + ["run", "--help"], env=child_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def count_events(capture: Path) -> int:
    from falcolib.scap.reader import ScapReader
    n = 0
    for _ in ScapReader(capture).headers():
        n += 1
    return n


def describe(label: str, t: Timing, nevents: int) -> str:
    return (f"{label:<34} wall {t.wall:6.2f} s  cpu {t.cpu:6.2f} s  "
            f"{t.cpu / nevents * 1e6:6.3f} us/event (cpu)")


def compare(title: str, sysdig_cmd: list[str], falcolib_cmd: list[str], repeat: int,
            nevents: int, target: str = "") -> None:
    """Time sysdig and falcolib on the same job and print both and their ratio."""
    sd = measure(sysdig_cmd, repeat)
    fl = measure(falcolib_cmd, repeat)
    print(title)
    print("  " + describe("sysdig", sd, nevents))
    print("  " + describe("falcolib", fl, nevents))
    rw, rc = fl.ratio(sd)
    print(f"  ratio sysdig/falcolib: wall {rw:.2f}x  cpu {rc:.2f}x" + (f"  ({target})" if target else ""))


def arguments(doc: str):
    """The argument parser both CLI benchmarks start from: the capture and --repeat."""
    import argparse
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("capture", nargs="?", type=Path, default=DEFAULT_BIG)
    ap.add_argument("--repeat", type=int, default=1)
    return ap


def prepare(capture: Path) -> tuple[str, int] | None:
    """(sysdig's path, the capture's event count) with the capture read once into the
    page cache; None (after saying why) without the capture or sysdig."""
    import shutil
    sysdig = shutil.which("sysdig")
    if not capture.exists() or sysdig is None:
        print("needs the big capture (benchmarks/make_big.py) and sysdig")
        return None
    n = count_events(capture)
    warm(capture)
    print(f"capture {capture} ({n} events)")
    return sysdig, n
