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
    p.add_argument("-A", "--all-events", action="store_true",
                   help="live: also capture the high-volume I/O syscalls (read, write, "
                        "readv, send, recv...) that no rule names, as Falco's -A")
    p.set_defaults(func=run)


def _ruleset(args, config):
    from falcolib.rules import load_rules
    paths = list(args.rules) or list(config.rules_files) or None
    ruleset = load_rules(paths)
    min_priority = args.min_priority or (config.priority if config.priority != "debug" else None)
    return ruleset.select(min_priority=min_priority, disable_rules=args.disable_rule,
                          disable_tags=args.disable_tag, only_tags=args.only_tag)


def _has_speedups() -> bool:
    from falcolib.speedups import speedups
    return speedups() is not None


def _backend(args, types, config):
    from falcolib.backend import open_backend
    if args.capture:
        return open_backend("scap", path=args.capture, types=types)
    name = args.backend or "ebpf"
    options = {}
    if name == "ebpf":
        e = config.ebpf
        if e.ring_pages & (e.ring_pages - 1):
            from falcolib.errors import ConfigError
            raise ConfigError(f"ebpf.ring_pages must be a power of two (got {e.ring_pages})")
        options = dict(ring_pages=e.ring_pages, queue_bytes=e.queue_bytes, drain_ms=e.drain_ms,
                       snaplen=e.snaplen)
    return open_backend(name, types=types, **options)


def run(args) -> int:
    from falcolib.config import load_config
    from falcolib.engine import Engine
    from falcolib.outputs.dispatcher import build_dispatcher

    overrides = list(args.overrides)
    if args.json:
        overrides.append("json_output=true")
    config = load_config(args.config, overrides)
    ruleset = _ruleset(args, config)
    engine = Engine(ruleset, rule_matching=config.rule_matching,
                    append_output=config.append_output)
    # the eBPF backend's exits carry their parameters: the state skips most enter events
    enterless = not args.capture and (args.backend or "ebpf") == "ebpf"
    # a capture replay reads only what the rules' fields need (lean state: the same
    # alerts, tests/state/test_lean_engine.py); live runs keep every state type, since a
    # reload may bring rules that read more
    types = engine.wanted_types(enterless, lean=bool(args.capture),
                                high_volume=bool(args.capture) or args.all_events)
    # a replay with the C loop reads every type: the loop hands Python what it needs
    c_loop = bool(args.capture) and types is not None and _has_speedups()
    backend = _backend(args, None if c_loop else types, config)
    live = not args.capture

    deadline = time.monotonic() + args.duration if args.duration is not None and live else None

    def on_signal(signum, frame):
        engine.stop()
        try:
            backend.stop()
        except Exception:  # a backend that cannot stop from a signal handler still ends via poll
            pass

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    # replay waits for a full sink queue (nothing lost); a live run never stalls on a sink
    dispatcher = build_dispatcher(config, replay=not live)
    dispatcher.install_sigusr1()
    service = _Service(args, config, engine, backend, dispatcher, live)
    dispatcher.start()
    exit_code = 0
    try:
        with backend:
            state = None
            if c_loop:
                from falcolib.cli.events_fast import replay_state
                state = replay_state(backend, engine, types)
            service.start()
            stats = engine.run(backend, dispatcher.publish, state=state,
                               poll=service.poll(deadline, on_signal), poll_every=1024)
            exit_code = service.exit_code
    finally:
        service.close()
        out_stats = dispatcher.close()
        for s, h in old.items():
            signal.signal(s, h)
    if args.stats:
        d = stats.as_dict()
        d["outputs"] = _plain(out_stats)
        sys.stderr.write(_stats_text(d))
        sys.stderr.write(service.drops.summary() + "\n")
    return exit_code


class _Service:
    """What a long run adds around the engine: reload on SIGHUP or file change, Falco's
    drop policy, the metrics endpoint and periodic stats line."""

    def __init__(self, args, config, engine, backend, dispatcher, live: bool):
        from falcolib.droppolicy import DropMonitor, DropPolicy
        from falcolib.reload import ReloadTrigger, Reloader
        self.args, self.config, self.engine, self.backend = args, config, engine, backend
        self.dispatcher = dispatcher
        self.exit_code = 0
        self.drops = DropMonitor(DropPolicy.from_config(config), self._counters, dispatcher.publish,
                                 hostname=engine.hostname, backend_name=getattr(backend, "name", ""))
        watched = [p for p in [args.config, *args.rules, *config.rules_files] if p]
        self.trigger = ReloadTrigger(watched, watch=live and config.watch_config_files)
        self.reloader = Reloader(self._load)
        self.live = live
        self._closers: list = []

    def _counters(self):
        st = self.backend.stats()
        return st.events_read, st.dropped

    def _load(self):
        from falcolib.config import load_config
        config = load_config(self.args.config, self.args.overrides +
                             (["json_output=true"] if self.args.json else []))
        return config, _ruleset(self.args, config)

    def start(self) -> None:
        if self.live:
            self.trigger.install()
        self._start_metrics()

    def _start_metrics(self) -> None:
        cfg = self.config
        if not (cfg.webserver.enabled or cfg.metrics.enabled):
            return
        from falcolib import metrics   # http.server and friends: only when asked for
        registry = metrics.MetricsRegistry([
            metrics.process_collector(), metrics.engine_collector(self.engine.stats),
            metrics.backend_collector(self.backend.stats, getattr(self.backend, "name", "")),
            metrics.dispatcher_collector(self.dispatcher)])
        if cfg.webserver.enabled:
            self._closers.append(metrics.MetricsServer(
                registry, cfg.webserver.listen_address, cfg.webserver.listen_port,
                healthz=cfg.webserver.k8s_healthz_endpoint,
                prometheus=cfg.webserver.prometheus_metrics_enabled).start())
        if cfg.metrics.enabled:
            self._closers.append(metrics.StatsTicker(
                registry, cfg.metrics.interval,
                publish=self.dispatcher.publish if cfg.metrics.output_rule else None,
                output_file=cfg.metrics.output_file, hostname=self.engine.hostname).start())

    def poll(self, deadline, stop):
        def poll(last_ts: int) -> bool:
            if deadline is not None and time.monotonic() >= deadline:
                stop(None, None)
            if not self.drops.check(last_ts or time.time_ns()):
                self.exit_code = 1  # the drop policy's `exit` action
                stop(None, None)
            if not self.trigger.pending:
                return False
            loaded = self.reloader.reload(self.trigger.take())
            if loaded is None:  # invalid: the old rules keep running (the reloader said why)
                return False
            config, ruleset = loaded
            self.engine.swap(ruleset, config.rule_matching, config.append_output)
            set_types = getattr(self.backend, "set_event_types", None)
            if set_types is not None:
                set_types(self.engine.wanted_types(
                    getattr(self.backend, "exits_carry_params", False),
                    high_volume=self.args.all_events))
            sys.stderr.write(f"falcolib: rules reloaded ({len(ruleset.active)} rules active)\n")
            return True
        return poll

    def close(self) -> None:
        self.trigger.close()
        for c in self._closers:
            c.close()


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
