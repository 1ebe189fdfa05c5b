"""``falcolib run``: evaluate rules against a capture or the live host and emit alerts."""
from __future__ import annotations

import json
import signal
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="evaluate rules on a capture or live events and emit alerts",
                       description="Evaluate Falco rules against events from a capture "
                                   "(--capture) or a live backend (default: ebpf).")
    p.add_argument("--rules", action="append", default=[], metavar="PATH",
                   help="rules file or directory (repeatable; default: the bundled rules)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--capture", metavar="FILE", help="replay a scap capture (.scap, .scap.gz)")
    src.add_argument("--backend", metavar="NAME", default=None,
                     help="live backend: ebpf (default) or kmod")
    p.add_argument("--config", metavar="FILE", help="falco.yaml-style configuration file")
    p.add_argument("--json", action="store_true", help="Falco's JSON alert, one per line")
    p.add_argument("--min-priority", metavar="LEVEL", default=None,
                   help="only rules at this priority or more severe")
    p.add_argument("--disable-rule", action="append", default=[], metavar="NAME",
                   help="disable rules matching this shell-style glob (repeatable)")
    p.add_argument("--disable-tag", action="append", default=[], metavar="TAG")
    p.add_argument("--only-tag", action="append", default=[], metavar="TAG")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a configuration key (dotted), e.g. rule_matching=all")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                   help="stop a live run after this many seconds")
    p.add_argument("--stats", action="store_true",
                   help="print events read, dropped and alerts per rule on stderr at the end")
    p.set_defaults(func=run)


def _ruleset(args, config):
    from falcolib.rules import load_rules
    paths = list(args.rules) or list(config.rules_files) or None
    ruleset = load_rules(paths)
    min_priority = args.min_priority or (config.priority if config.priority != "debug" else None)
    return ruleset.select(min_priority=min_priority, disable_rules=args.disable_rule,
                          disable_tags=args.disable_tag, only_tags=args.only_tag)


def _backend(args, types):
    from falcolib.backend import open_backend
    if args.capture:
        return open_backend("scap", path=args.capture, types=types)
    return open_backend(args.backend or "ebpf", types=types)


def run(args) -> int:
    from falcolib.config import load_config
    from falcolib.engine import Engine
    from falcolib.outputs.dispatcher import build_dispatcher

    overrides = list(args.overrides)
    if args.json:
        overrides.append("json_output=true")
    config = load_config(args.config, overrides)
    ruleset = _ruleset(args, config)
    engine = Engine(ruleset, rule_matching=config.rule_matching)
    backend = _backend(args, engine.wanted_types())

    deadline = None
    if args.duration is not None and not args.capture:
        deadline = time.monotonic() + args.duration

    def on_signal(signum, frame):
        engine.stop()
        try:
            backend.stop()
        except Exception:  # a backend that cannot stop from a signal handler still ends via poll
            pass

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}

    def poll():
        if deadline is not None and time.monotonic() >= deadline:
            on_signal(None, None)

    dispatcher = build_dispatcher(config)
    dispatcher.start()
    try:
        with backend:
            stats = engine.run(backend, dispatcher.publish, poll=poll, poll_every=1024)
    finally:
        out_stats = dispatcher.close()
        for s, h in old.items():
            signal.signal(s, h)
    if args.stats:
        d = stats.as_dict()
        d["outputs"] = _plain(out_stats)
        sys.stderr.write(_stats_text(d))
    return 0


def _plain(obj):
    try:
        import attrs
        if attrs.has(type(obj)):
            return attrs.asdict(obj)
    except Exception:
        pass
    return obj if isinstance(obj, (dict, list, int, str, float)) else str(obj)


def _str_keys(obj):
    """JSON needs string keys; some counters are keyed by (rule, priority)."""
    if isinstance(obj, dict):
        return {(k if isinstance(k, str) else "/".join(map(str, k)) if isinstance(k, tuple)
                 else str(k)): _str_keys(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_str_keys(v) for v in obj]
    return obj


def _stats_text(d: dict) -> str:
    lines = [f"Events read: {d['events_read']}",
             f"Events processed: {d['events_processed']}",
             f"Events dropped: {d['events_dropped']}",
             f"Alerts: {d['alerts']}"]
    for name, n in sorted(d["alerts_per_rule"].items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"   {name}: {n}")
    lines.append("stats: " + json.dumps(_str_keys(d), default=str, sort_keys=True))
    return "\n".join(lines) + "\n"
