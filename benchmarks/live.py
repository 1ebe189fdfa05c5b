"""Live monitoring cost: syscall loops with no monitor, an empty BPF program, falcolib.

    python3 benchmarks/live.py [--rules none,default,official] [--scale 1.0]

As root. A small C program runs four loops (getpid, stat, open+close,
fork+exec of /bin/true) and reports ns per iteration. It runs:

* with no monitor (baseline);
* with an empty BPF program on the very tracepoints falcolib hooks for the
  official rules (the kernel's floor for those hooks);
* while a falcolib process consumes live: ``raw`` (the backend's iterator
  only, the types of the official rules), then the engine (EbpfBackend ->
  decode -> state -> rules) once per rule set: none (state only), the
  default rules, the three official rule files.

For each falcolib run: slowdown per loop, events/s the Python side
processed, drops (kernel ring, queue), CPU and peak RSS (VmHWM) of the
falcolib process (and of the short-lived child that compiled its probe),
its start-up time, latency from a syscall (event timestamp) to its processing
(p50/p99, during the loops: the backlog), and, once the consumer has caught
up, from a rule-triggering syscall (``cat /etc/shadow``, 20 times, 100 ms
apart) to its alert. One run; the machine is shared, so ratios are noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = sorted((ROOT / ".." / "shared" / "rules").resolve().glob("*.yaml"))


def loadable(paths):
    """The rule files that load (all of them normally; the loader's gaps are reported)."""
    from falcolib.errors import RuleLoadError
    from falcolib.rules import load_rules
    try:
        load_rules(paths)
        return list(paths)
    except RuleLoadError as exc:
        print(f"note: {exc}; using the files that load alone", file=sys.stderr)
    ok = []
    for p in paths:
        try:
            load_rules(ok + [p])
            ok.append(p)
        except RuleLoadError:
            pass
    return ok

LOOPS_C = r"""
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static void paced(double iters_per_s, double seconds) {
    /* open+close of a file at a steady rate, in 1 ms slices */
    double t0 = now(), per_ms = iters_per_s / 1000.0, done = 0;
    while (now() - t0 < seconds * 1e9) {
        double due = (now() - t0) / 1e6 * per_ms;
        while (done < due) { int fd = open("/etc/hostname", O_RDONLY); close(fd); done += 1; }
        struct timespec ts = {0, 200000}; nanosleep(&ts, NULL);
    }
    printf("paced %.0f\n", done / seconds);
}
int main(int argc, char **argv) {
    if (argc > 3) { paced(atof(argv[2]), atof(argv[3])); return 0; }
    double k = argc > 1 ? atof(argv[1]) : 1.0;
    long n; double t; struct stat st;
    n = 2000000 * k; t = now(); for (long i = 0; i < n; i++) syscall(SYS_getpid);
    printf("getpid %.1f\n", (now() - t) / n);
    n = 500000 * k; t = now(); for (long i = 0; i < n; i++) stat("/etc/hostname", &st);
    printf("stat %.1f\n", (now() - t) / n);
    n = 300000 * k; t = now();
    for (long i = 0; i < n; i++) { int fd = open("/etc/hostname", O_RDONLY); close(fd); }
    printf("open_close %.1f\n", (now() - t) / n);
    char byte; int zero = open("/dev/zero", O_RDONLY);
    n = 1000000 * k; t = now(); for (long i = 0; i < n; i++) if (read(zero, &byte, 1) != 1) break;
    printf("read %.1f\n", (now() - t) / n);
    close(zero);
    n = 1500 * k; t = now();
    char *args[] = {"/bin/true", NULL};
    for (long i = 0; i < n; i++) { pid_t p; posix_spawn(&p, "/bin/true", NULL, NULL, args, environ); waitpid(p, NULL, 0); }
    printf("fork_exec %.1f\n", (now() - t) / n);
    return 0;
}
"""

# the falcolib process: engine over the live backend until SIGINT, then a JSON summary
CONSUMER = r"""
import json, os, signal, sys, time
from falcolib.engine import Engine, wanted_types
from falcolib.decode.event import Event
from falcolib.state import State
from falcolib_ebpf import EbpfBackend
mode, rules = sys.argv[1], sys.argv[2:]
ruleset = None
if mode not in ("none", "raw"):
    from falcolib.rules import load_rules
    from falcolib.rules.loader import default_rules_paths
    ruleset = load_rules(rules or default_rules_paths())
if mode == "raw":
    from falcolib.rules.loader import default_rules_paths
    from falcolib.rules import load_rules
    types = Engine(load_rules(rules)).wanted_types(enterless=True, high_volume=False)
else:   # as `falcolib run` live: no high-volume I/O syscall no rule names
    from falcolib.engine import high_volume_types
    types = (Engine(ruleset).wanted_types(enterless=True, high_volume=False)
             if ruleset is not None
             else wanted_types(frozenset(), enterless=True) - high_volume_types())
lat, alat = [], []
stop = False
sync = caught = False
def on_sig(*_):
    global stop
    stop = True
def on_usr1(*_):
    global sync
    sync = True
signal.signal(signal.SIGINT, on_sig)
signal.signal(signal.SIGUSR1, on_usr1)
b = EbpfBackend(types)
t_start = time.monotonic()
with b:
    start_s = time.monotonic() - t_start
    state = State(b.snapshot(), enterless=True)   # as falcolib run: exits carry the fds
    engine = Engine(ruleset) if ruleset is not None else None
    hooks = len(b.hooked)
    print("READY", hooks, flush=True)
    t0 = time.monotonic(); c0 = os.times()
    n = alerts = 0
    for raw in b:
        if raw is None:  # idle tick: 100 ms without an event, so nothing is behind
            if sync:
                sync = False
                caught = True
                print("CAUGHTUP", flush=True)
            if stop:
                b.stop()
                stop = False
            continue
        n += 1
        if not n & 255:
            lag = time.time_ns() - raw.ts
            lat.append(lag)
            if sync and lag < 50_000_000:
                sync = False
                caught = True
                print("CAUGHTUP", flush=True)
        if stop:
            b.stop()
            stop = False
        if mode == "raw":
            continue
        view = state.process(Event(raw))
        if engine is not None:
            for a in engine.process(view):
                alerts += 1
                if caught:
                    alat.append(time.time_ns() - a.time)
    wall = time.monotonic() - t0; c1 = os.times()
    st = b.stats()
def pct(v, q):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(q * len(v)))] / 1e6, 2) if v else None
print(json.dumps({"events": n, "wall": wall, "cpu": (c1.user - c0.user) + (c1.system - c0.system),
                  # VmHWM: this process's own peak; ru_maxrss also counts the RSS of the
                  # parent that vforked it (this script), which is not falcolib's
                  "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status")
                                 if l.startswith("VmHWM:")) / 1024,
                  "loader_rss_mb": st.extra["loader_max_rss_kb"] / 1024,
                  "loader_s": st.extra["loader_seconds"], "start_s": start_s,
                  "dropped_kernel": st.dropped_kernel, "dropped_queue": st.dropped_queue,
                  "filtered_kernel": st.filtered_kernel, "extra": st.extra, "alerts": alerts,
                  "lat_p50_ms": pct(lat, .5), "lat_p99_ms": pct(lat, .99),
                  "alert_p50_ms": pct(alat, .5), "alert_p99_ms": pct(alat, .99),
                  "hooks": hooks}), flush=True)
"""


def build_loops(tmp: Path) -> Path:
    src, exe = tmp / "loops.c", tmp / "loops"
    src.write_text(LOOPS_C)
    subprocess.run(["cc", "-O2", "-o", str(exe), str(src)], check=True)
    return exe


def run_loops(exe: Path, scale: float) -> dict[str, float]:
    out = subprocess.run([str(exe), str(scale)], capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in (line.split() for line in out.splitlines())}


class empty_program:
    """A program that returns at once, attached to ``tracepoints`` (loaded in a child, as
    the backend does: this script stays free of bcc, whose RSS its children would inherit
    in their ru_maxrss)."""

    def __init__(self, tracepoints: list[str]):
        from falcolib_ebpf import bpfsys
        from falcolib_ebpf.loader import load_probe
        self._loaded = load_probe("int empty(void *ctx) { return 0; }", [], ["empty"])
        self._perf = [bpfsys.attach_tracepoint(self._loaded.programs["empty"], tp) for tp in tracepoints]

    def cleanup(self) -> None:
        for fd in self._perf + self._loaded.fds():
            os.close(fd)


def official_tracepoints() -> list[str]:
    from falcolib.engine import Engine
    from falcolib.rules import load_rules
    from falcolib_ebpf import EbpfBackend
    types = Engine(load_rules(loadable(OFFICIAL))).wanted_types(True, high_volume=False)
    with EbpfBackend(types, snapshot=False) as b:
        return sorted(b.hooked)


def with_consumer(exe: Path, scale: float, mode: str, rate: float = 0, seconds: float = 0) -> tuple[dict, dict]:
    args = [sys.executable, "-c", CONSUMER, mode] + ([str(p) for p in loadable(OFFICIAL)]
                                                     if mode in ("official", "raw") else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    ready = proc.stdout.readline()
    if not ready.startswith("READY"):
        proc.kill()
        raise SystemExit(f"consumer failed to start: {ready!r}")
    time.sleep(1.0)
    if rate:
        out = subprocess.run([str(exe), "paced", str(rate), str(seconds)], capture_output=True,
                             text=True, check=True).stdout.split()
        loops = {out[0]: float(out[1])}
    else:
        loops = run_loops(exe, scale)
    proc.send_signal(signal.SIGUSR1)
    proc.stdout.readline()  # CAUGHTUP: the backlog of the loops is processed
    for _ in range(20):
        subprocess.run(["cat", "/etc/shadow"], stdout=subprocess.DEVNULL)
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    summary = json.loads(proc.stdout.readline())
    proc.wait(timeout=120)
    return loops, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default="raw,none,default,official")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--sustained", type=float, default=50000,
                    help="open+close per second for the sustained run (2 events each reach "
                         "falcolib), 0 = skip")
    ap.add_argument("--seconds", type=float, default=5.0)
    opts = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_loops(Path(tmp))
        base = run_loops(exe, opts.scale)
        rows = [("no monitor", base, None)]
        tps = official_tracepoints()
        prog = empty_program(tps)
        rows.append((f"empty BPF ({len(tps)} hooks)", run_loops(exe, opts.scale), None))
        prog.cleanup()
        for mode in opts.rules.split(","):
            loops, summary = with_consumer(exe, opts.scale, mode)
            rows.append((f"falcolib rules={mode}", loops, summary))
        sustained = []
        if opts.sustained:
            for mode in ("official",):
                loops, summary = with_consumer(exe, 0, mode, opts.sustained, opts.seconds)
                # the events each open+close makes reach falcolib (openat and close exits
                # since the enters are not hooked): the rate is the consumer's count
                rate = summary["events"] / opts.seconds
                sustained.append((f"sustained {loops['paced']:.0f} open+close/s (~{rate:.0f} ev/s "
                                  f"into falcolib, {opts.seconds:.0f} s) rules={mode}", summary))
    names = list(base)
    print(f"{'':28}" + "".join(f"{n:>22}" for n in names))
    for label, loops, _ in rows:
        cells = "".join(f"{loops[n]:>10.0f} ns x{loops[n] / base[n]:>5.2f}    " for n in names)
        print(f"{label:28}{cells}")
    print()
    for label, _loops, s in rows + [(lbl, None, sm) for lbl, sm in sustained]:
        if s is None:
            continue
        print(f"{label}: {s['events']} events in {s['wall']:.1f}s = {s['events'] / s['wall']:.0f} ev/s "
              f"processed ({s['events'] / max(s['cpu'], 1e-9):.0f} per CPU-second); dropped kernel={s['dropped_kernel']} queue={s['dropped_queue']}; "
              f"filtered in kernel={s['filtered_kernel']}; CPU {100 * s['cpu'] / s['wall']:.0f}%; "
              f"max RSS {s['rss_mb']:.0f} MB (loader child {s['loader_rss_mb']:.0f} MB, "
              f"start {s['start_s']:.1f} s); event latency p50/p99 {s['lat_p50_ms']}/{s['lat_p99_ms']} ms; "
              f"alerts {s['alerts']} (latency p50/p99 {s['alert_p50_ms']}/{s['alert_p99_ms']} ms); "
              f"hooks {s['hooks']}")


if __name__ == "__main__":
    main()
