"""Explore captures in Jupyter: summary repr, HTML tables, filters, alerts, process trees.

    from falcolib.notebook import Capture
    cap = Capture.open("../shared/captures/cat_write.scap")
    cap                                   # one-line summary
    cap.filter("evt.type = openat")       # a new view; renders as an HTML table
    cap.alerts("../shared/rules/falco_rules.yaml")
    cap.process_tree()
    cap.to_dataframe(["evt.num", "proc.name", "fd.name"])   # needs falcolib[notebook]

A Capture holds the raw events (bounded by ``max_events``) and the state
known at start; every view replays them through a fresh state engine, so
fields such as proc.name and fd.name are right whatever was filtered out.
"""
from __future__ import annotations

import html
import sys
import time
from collections import Counter
from typing import Iterable, Iterator

from falcolib.backend.model import RawEvent, StateSnapshot

DEFAULT_COLUMNS = ("evt.num", "evt.time", "proc.name", "thread.tid", "evt.dir", "evt.type", "evt.info")
MAX_EVENTS = 2_000_000


class _Progress:
    """A minimal progress bar: an updating HTML line in Jupyter, a stderr line elsewhere."""

    def __init__(self, total: int, label: str, min_total: int = 200_000):
        self.total, self.label, self.active = total, label, total >= min_total
        self.handle = None
        self.last = 0.0
        if self.active:
            try:
                from IPython.display import display  # type: ignore
                self.handle = display(self._html(0), display_id=True)
            except Exception:
                self.handle = None

    def _html(self, done: int):
        from IPython.display import HTML  # type: ignore
        pct = 100 * done // max(self.total, 1)
        return HTML(f"<progress value='{pct}' max='100'></progress> {html.escape(self.label)} {pct}%")

    def update(self, done: int) -> None:
        if not self.active or time.monotonic() - self.last < 0.2:
            return
        self.last = time.monotonic()
        if self.handle is not None:
            self.handle.update(self._html(done))
        else:
            sys.stderr.write(f"\r{self.label}: {100 * done // max(self.total, 1)}%")

    def close(self) -> None:
        if self.active and self.handle is None:
            sys.stderr.write("\r" + " " * 40 + "\r")


class Capture:
    """Events of a capture (or a live run) and the conditions that select a view of them."""

    def __init__(self, events: list[RawEvent], snapshot: StateSnapshot, *, name: str = "capture",
                 conditions: tuple[str, ...] = ()):
        self._events = events
        self._snapshot = snapshot
        self.name = name
        self.conditions = conditions
        self._matchers = None
        self._selected: list[int] | None = None

    # --- construction -------------------------------------------------------
    @classmethod
    def open(cls, path, *, max_events: int = MAX_EVENTS) -> "Capture":
        """Read a scap file (.scap or .scap.gz), keeping at most ``max_events`` events."""
        from falcolib_scap import ScapBackend
        with ScapBackend(str(path)) as backend:
            return cls._take(backend, max_events, name=str(path))

    @classmethod
    def live(cls, seconds: float, *, backend: str = "ebpf", max_events: int = MAX_EVENTS,
             **options) -> "Capture":
        """Capture the live host for ``seconds`` (root and the backend's requirements apply)."""
        from falcolib.backend import open_backend
        deadline = time.monotonic() + seconds
        with open_backend(backend, **options) as b:
            events: list[RawEvent] = []
            for raw in b:
                if time.monotonic() >= deadline or len(events) >= max_events:
                    break
                if raw is not None:
                    events.append(_detach(raw))
            return cls(events, b.snapshot(), name=f"live {backend} {seconds:g}s")

    @classmethod
    def _take(cls, backend, max_events: int, name: str) -> "Capture":
        events = []
        for raw in backend:
            if len(events) >= max_events:
                break
            events.append(raw)
        return cls(events, backend.snapshot(), name=name)

    # --- selection ----------------------------------------------------------
    def filter(self, condition: str) -> "Capture":
        """A new view with only the events matching ``condition`` (sysdig filter syntax)."""
        from falcolib.cli.events import compile_filter
        compile_filter(condition)  # fail now, with the column, on a bad condition
        return Capture(self._events, self._snapshot, name=self.name,
                       conditions=self.conditions + (condition,))

    def views(self) -> Iterator:
        """EventViews of the selected events, state applied (replays the whole capture)."""
        from falcolib.cli.events import compile_filter
        from falcolib.decode.event import Event
        from falcolib.state import State
        if self._matchers is None:
            self._matchers = [compile_filter(c) for c in self.conditions]
        matchers = self._matchers
        state = State(self._snapshot, host_tables=False)
        progress = _Progress(len(self._events), self.name)
        try:
            for i, raw in enumerate(self._events):
                view = state.process(Event(raw))
                if all(m(view) for m in matchers):
                    yield view
                if not i % 4096:
                    progress.update(i)
        finally:
            progress.close()

    def __len__(self) -> int:
        if not self.conditions:
            return len(self._events)
        if self._selected is None:
            self._selected = [v.evt.num for v in self.views()]
        return len(self._selected)

    # --- summaries ----------------------------------------------------------
    def summary(self) -> dict:
        """Events, time span, top event types and processes of this view."""
        from falcolib.fields import resolve
        proc_name = resolve("proc.name")
        types, procs = Counter(), Counter()
        first = last = None
        n = 0
        for view in self.views():
            evt = view.evt
            n += 1
            first = evt.ts if first is None else first
            last = evt.ts
            types[evt.name] += 1
            procs[proc_name(view) or "<NA>"] += 1
        return {"events": n, "first_ts": first, "last_ts": last,
                "duration_s": ((last - first) / 1e9) if n else 0.0,
                "top_types": types.most_common(5), "top_processes": procs.most_common(5)}

    def __repr__(self) -> str:
        s = self.summary()
        sel = f" where {' and '.join(self.conditions)}" if self.conditions else ""
        tops = ", ".join(f"{t} {n}" for t, n in s["top_types"])
        procs = ", ".join(f"{p} {n}" for p, n in s["top_processes"])
        return (f"<Capture {self.name}{sel}: {s['events']} events over {s['duration_s']:.3f}s; "
                f"types: {tops}; processes: {procs}>")

    # --- tables -------------------------------------------------------------
    def to_records(self, fields: Iterable[str] = DEFAULT_COLUMNS, *, limit: int | None = None,
                   text: bool = False) -> list[dict]:
        """One dict per selected event: field → value (or its sysdig text with ``text=True``)."""
        fields = tuple(fields)
        getters = [_getter(f, text) for f in fields]
        out = []
        for view in self.views():
            out.append({f: g(view) for f, g in zip(fields, getters)})
            if limit is not None and len(out) >= limit:
                break
        return out

    def to_dataframe(self, fields: Iterable[str] = DEFAULT_COLUMNS, **kw):
        """The records as a pandas DataFrame (``pip install falcolib[notebook]``)."""
        try:
            import pandas as pd  # type: ignore
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install 'falcolib[notebook]'") from None
        fields = tuple(fields)
        return pd.DataFrame.from_records(self.to_records(fields, **kw), columns=list(fields))

    def table(self, fields: Iterable[str] = DEFAULT_COLUMNS, limit: int = 50) -> "_Table":
        """An HTML table of chosen fields for the first ``limit`` selected events."""
        fields = tuple(fields)
        return _Table(fields, self.to_records(fields, limit=limit, text=True), self.name)

    def _repr_html_(self) -> str:
        head = html.escape(repr(self))
        return f"<p><code>{head}</code></p>" + self.table()._repr_html_()

    # --- rules and processes -------------------------------------------------
    def alerts(self, rules=None, *, rule_matching: str = "first"):
        """Alerts of ``rules`` (Ruleset, paths, default rules when None) over this view."""
        from falcolib.engine import Engine
        from falcolib.rules import Ruleset
        from falcolib.testing.alerts import AlertList
        from falcolib.testing.run import load_ruleset
        if not isinstance(rules, Ruleset):
            rules = load_ruleset(*([] if rules is None else
                                   (rules if isinstance(rules, (list, tuple)) else [rules])))
        engine = Engine(rules, rule_matching=rule_matching)
        alerts = []
        for view in self.views():
            alerts.extend(engine.process(view))
        return AlertList(alerts, f"of {self.name}")

    def process_tree(self) -> "ProcessTree":
        """Who spawned whom in this view: threads from the start state and from clone/execve."""
        nodes: dict[int, dict] = {}
        for view in self.views():
            t = view.thread
            if t is not None and t.pid not in nodes:
                parent = view.state.threads.get(t.ptid)
                nodes[t.pid] = {"pid": t.pid, "ppid": parent.pid if parent else t.ptid,
                                "name": t.comm, "cmdline": _cmdline(t)}
            elif t is not None and view.evt.name == "execve" and view.evt.dir == "<":
                nodes[t.pid].update(name=t.comm, cmdline=_cmdline(t))
        return ProcessTree(nodes)


def _cmdline(t) -> str:
    args = getattr(t, "args", ()) or ()
    return " ".join([t.comm, *args])


def _getter(name: str, text: bool):
    from falcolib.fields import lookup, resolve
    field = lookup(name)
    extract = resolve(name)
    render = field.render
    if not text:
        return extract

    def as_text(view):
        v = extract(view)
        if v is None:
            return "<NA>"
        return render(v) if render is not None else str(v)
    return as_text


def _detach(raw: RawEvent) -> RawEvent:
    """A copy of a live event that no longer references the ring buffer."""
    data = raw.buf[raw.off:raw.off + raw.size]
    return raw._replace(buf=bytes(data), off=0)


class _Table:
    def __init__(self, fields, rows, name):
        self.fields, self.rows, self.name = fields, rows, name

    def __repr__(self) -> str:
        return "\n".join(" ".join(str(r[f]) for f in self.fields) for r in self.rows)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(f)}</th>" for f in self.fields)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[f]))}</td>" for f in self.fields)
                       + "</tr>" for r in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class ProcessTree:
    """Processes seen in a view, under their parents."""

    def __init__(self, nodes: dict[int, dict]):
        self.nodes = nodes
        self.children: dict[int, list[int]] = {}
        for pid, n in nodes.items():
            self.children.setdefault(n["ppid"], []).append(pid)
        self.roots = sorted(p for p, n in nodes.items() if n["ppid"] not in nodes)

    def lines(self) -> list[str]:
        out: list[str] = []
        seen: set[int] = set()

        def walk(pid: int, depth: int) -> None:
            if pid in seen:  # a reused pid must not loop the walk
                return
            seen.add(pid)
            n = self.nodes[pid]
            out.append(f"{'  ' * depth}{n['name']}({pid}) {n['cmdline']}")
            for child in sorted(self.children.get(pid, ())):
                walk(child, depth + 1)
        for root in self.roots:
            walk(root, 0)
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(repr(self)) + "</pre>"
