"""``falcolib capture -w FILE.scap [FILTER]``: write live events to a scap file sysdig reads."""
from __future__ import annotations

import signal
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("capture", help="write live events to a scap capture file",
                       description="Capture live events (with the state known at start) into a "
                                   "scap file that `sysdig -r` and `falcolib events` read.")
    p.add_argument("-w", "--write", dest="path", required=True, metavar="FILE.scap",
                   help="output file (gzip-compressed when it ends in .gz)")
    p.add_argument("filter", nargs="?", default=None, help="only events matching this condition")
    p.add_argument("--backend", default="ebpf", metavar="NAME", help="live backend (ebpf, kmod)")
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--max-events", type=int, default=None, metavar="N", help="stop after N events written")
    p.set_defaults(func=run)


def run(args) -> int:
    from falcolib.backend import open_backend
    from falcolib.cli.events import compile_filter
    from falcolib.decode.event import Event
    from falcolib.scap.writer import ScapWriter
    from falcolib.state import State

    matcher = compile_filter(args.filter)
    backend = open_backend(args.backend)  # every event type: the capture is for later analysis
    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    deadline = time.monotonic() + args.duration if args.duration is not None else None
    written = 0
    try:
        with backend:
            snapshot = backend.snapshot()
            state = State(snapshot) if matcher is not None else None
            with ScapWriter(args.path, snapshot, compress=args.path.endswith(".gz")) as writer:
                for raw in backend:
                    if stop or (deadline is not None and time.monotonic() >= deadline):
                        break
                    if raw is None:
                        continue
                    if state is not None:
                        view = state.process(Event(raw))
                        if not matcher(view):
                            continue
                    writer.write(raw)
                    written += 1
                    if args.max_events is not None and written >= args.max_events:
                        break
            stats = backend.stats()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    sys.stderr.write(f"falcolib: wrote {written} events to {args.path} "
                     f"({stats.events_read} read, {stats.dropped} dropped)\n")
    return 0
