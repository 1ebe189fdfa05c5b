"""The state engine: threads, fds, users, groups and containers, kept as sysdig 0.29 does.

``State.process(evt)`` applies one decoded event to the tables (what
libsinsp's ``sinsp_parser::process_event`` does, enter/exit pairing
included) and returns the ``EventView`` the field extractors read.

Per event: pending removals from the previous event are applied (sysdig
removes a closed fd or an exited thread only when the next event arrives,
so the close/procexit event itself still sees them); the thread is looked
up (a placeholder is made for an unknown tid, as sysdig does); enter events
record which fd they use and, for the types whose exit needs it, are kept
until the exit; then the type's handler (if any) runs. Types that no
handler wants cost a dict lookup and the view.
"""
from __future__ import annotations

import operator

from falcolib.backend.model import StateSnapshot
from falcolib.decode.table import EVENTS
from falcolib.state import fdinfo as F
from falcolib.state.containers import ContainerTable
from falcolib.state.fdinfo import FdInfo
from falcolib.state.paths import concatenate, erase_invalid
from falcolib.state.rawparams import first_i64
from falcolib.state.snapshot import fd_from_record, load_snapshot
from falcolib.state.threadinfo import (
    CL_ACTIVE, CL_CLOSED, CL_CLONE_THREAD, CL_IS_MAIN_THREAD, NO_UID, ThreadInfo,
)
from falcolib.state.tables import (  # noqa: F401 (the type tables, re-exported)
    _K_CLONE_X, _K_CONTAINER, _K_ENTER, _K_EXIT, _K_SKIP, _WRITE_X, ENTERLESS_HANDLED,
    ENTERLESS_STORED, PARSER_MODULES, enterless_types, fd_event_types, fd_using_types,
    parser_tables, tables,
)
from falcolib.state.view import EventView

MAX_THREADS = 131072          # sysdig's m_thread_table_absolute_max_size
MAX_FDS_PER_PROCESS = 4096    # sysdig's MAX_FD_TABLE_SIZE: more fds are not tracked
PURGE_INTERVAL_NS = 20 * 60 * 10**9   # live: how often the thread table is swept
THREAD_TIMEOUT_NS = 30 * 60 * 10**9   # live: a thread idle this long is dropped if /proc lost it
CANCELED_FD = (1 << 63) - 1   # where a closing fd waits when its number is reused (sysdig)

_PID_OF = operator.attrgetter("pid")


class State:
    """Threads, fds, users, groups and containers; see the module docstring."""

    def __init__(self, snapshot: StateSnapshot | None = None, *,
                 max_threads: int = MAX_THREADS, max_fds: int = MAX_FDS_PER_PROCESS,
                 max_containers: int = 4096, host_tables: bool | None = None,
                 sysdig_filter_order: bool = False, live: bool = False, enterless: bool = False,
                 purge_interval_ns: int = PURGE_INTERVAL_NS, thread_timeout_ns: int = THREAD_TIMEOUT_NS):
        self._kind, self._uses_fd, self.fd_event, self._store, self._handlers, minor, exit_fd = \
            tables()
        # enterless: the backend may skip the enter events of enterless_types() (its exits
        # carry their parameters); an unpaired exit then takes its fd from its own ``fd``
        self._exit_fd = exit_fd if enterless else None
        # sysdig -r FILTER evaluates a filter before parsing events that do not modify
        # state (no EF_MODIFIES_STATE: read/write, switch, mmap...) and parses them only
        # if they pass; Falco parses every event first. With ``sysdig_filter_order`` the
        # caller evaluates its filter on the view, then calls settle() (passed) or
        # discard() (failed; also what happens if neither is called before the next event).
        self._minor = minor if sysdig_filter_order else [False] * len(minor)
        self._deferred = None
        self.sysdig_filter_order = sysdig_filter_order
        self.filtering = False   # sysdig order: between process() and settle()/discard()
        # live: sweep closed and long-idle dead threads now and then (sysdig's
        # remove_inactive_threads); captures keep sysdig's offline behaviour (no sweep)
        self.live = live
        self.purge_interval_ns = purge_interval_ns
        self.thread_timeout_ns = thread_timeout_ns
        self._next_purge = 0
        self._switch = [info.enum in ("PPME_SCHEDSWITCH_1_E", "PPME_SCHEDSWITCH_6_E") for info in EVENTS]
        self._last_switch: dict[int, int] = {}
        self.exectime = (None, 0)
        self.max_threads = max_threads
        self.max_fds = max_fds
        self.threads: dict[int, ThreadInfo] = {}
        self.containers = ContainerTable(max_containers)
        self.users = {}
        self.groups = {}
        self.interfaces = ()
        self.machine = None
        self._tid_to_remove = -1
        self._fds_to_remove: list[int] = []
        self._fd_remove_tid = -1
        self.dropped_threads = 0
        self.events = 0
        self.last_ts = 0
        # sysdig's m_firstevent_ts (evt.reltime): the first event's ts that is not
        # container JSON metadata; stays 0 while only ts-0 events came
        self.first_ts = 0
        snap = snapshot if snapshot is not None else StateSnapshot()
        self._load(snap, host_tables if host_tables is not None else snapshot is None)

    # ------------------------------------------------------------------ setup
    def _load(self, snap: StateSnapshot, host: bool) -> None:
        load_snapshot(self, snap, host)

    # -------------------------------------------------------------- lookups
    def get_thread(self, tid: int, create: bool = True) -> ThreadInfo | None:
        """The thread ``tid``; with ``create``, a "<NA>" placeholder if unknown (as sysdig)."""
        t = self.threads.get(tid)
        if t is None and create and len(self.threads) < self.max_threads:
            t = ThreadInfo(tid, tid)   # sysdig's "<NA>" placeholder
            t.loginuid = NO_UID
            t.nchilds = list(map(_PID_OF, self.threads.values())).count(tid)
            self.threads[tid] = t
        return t

    def main_thread(self, t: ThreadInfo) -> ThreadInfo | None:
        if t.tid == t.pid or t.flags & CL_IS_MAIN_THREAD:
            return t
        return self.get_thread(t.pid)

    def parent(self, t: ThreadInfo) -> ThreadInfo | None:
        return self.threads.get(t.ptid)

    def cwd(self, t: ThreadInfo) -> str:
        m = self.main_thread(t)
        return m.cwd if m is not None else "./"

    def set_cwd(self, t: ThreadInfo, path) -> None:
        m = self.main_thread(t)
        if m is not None:
            m.cwd = _with_slash(concatenate(m.cwd, path))

    def env(self, t: ThreadInfo) -> tuple[str, ...]:
        if t.is_main:
            return t.env
        m = self.main_thread(t)
        return m.env if m is not None else t.env

    def ancestors(self, t: ThreadInfo):
        """Parents of ``t`` from the nearest, stopping at a loop (sysdig's traverse_parent_state)."""
        seen = {id(t)}
        p = self.threads.get(t.ptid)
        while p is not None and p.tid != -1 and id(p) not in seen:
            yield p
            seen.add(id(p))
            if p.tid == p.ptid:
                return
            p = self.threads.get(p.ptid)

    def add_fd(self, t: ThreadInfo, fd: int, fi: FdInfo) -> FdInfo | None:
        """Put ``fi`` (a fresh object) in ``t``'s process fd table as ``fd``
        (sysdig's sinsp_fdtable::add: None when a full table drops it)."""
        table = t.fds
        t.lastevent_fd = fd
        old = table.get(fd)
        if old is None:
            if len(table) >= self.max_fds:
                return None
        elif old.flags & F.FLAGS_CLOSE_IN_PROGRESS:
            # reused between close enter and exit: that close must not remove the new fd
            fi.flags = (fi.flags & ~F.FLAGS_CLOSE_IN_PROGRESS) | F.FLAGS_CLOSE_CANCELED
            table[CANCELED_FD] = old
        table[fd] = fi
        return fi

    def remove_fd_later(self, t: ThreadInfo, fd: int) -> None:
        if self._fd_remove_tid != t.tid and self._fds_to_remove:
            self._flush_fds()
        self._fd_remove_tid = t.tid
        self._fds_to_remove.append(fd)

    def remove_thread_later(self, tid: int) -> None:
        self._tid_to_remove = tid

    def user(self, uid: int):
        return self.users.get(uid)

    def group(self, gid: int):
        return self.groups.get(gid)

    def container(self, t: ThreadInfo | None):
        if t is None or not t.container_id:
            return None
        return self.containers.get(t.container_id)

    # ------------------------------------------------------ decode.render ctx
    def fd_label(self, tid: int, fd: int) -> str | None:
        """``<f>/etc/passwd`` as sysdig prints after an fd number, or None if unknown."""
        t = self.threads.get(tid)
        if t is None:
            return None
        fi = t.fds.get(fd)
        if fi is None:
            return None
        proto = ""
        if fi.type in F.SOCKET_TYPES:
            proto = _L4_CHAR.get(fi.l4(), "")
        return f"<{fi.typechar}{proto}>{erase_invalid(fi.name)}"

    def thread_cwd(self, tid: int) -> str | None:
        """The cwd (with its trailing '/') of ``tid``'s process, for resolving relative paths."""
        t = self.threads.get(tid)
        return None if t is None else self.cwd(t)

    def fd_name(self, tid: int, fd: int) -> str | None:
        """The name of ``fd`` in ``tid``'s process (a dirfd's directory), or None."""
        t = self.threads.get(tid)
        fi = None if t is None else t.fds.get(fd)
        return None if fi is None else fi.name

    def thread_comm(self, tid: int) -> str | None:
        t = self.threads.get(tid)
        return t.comm if t is not None else None

    def stats(self) -> dict:
        return {"threads": len(self.threads), "containers": len(self.containers),
                "users": len(self.users), "groups": len(self.groups),
                "fds": sum(len(t.fds) for t in self.threads.values() if t.is_main),
                "dropped_threads": self.dropped_threads, "events": self.events}

    # ------------------------------------------------------------ the hot path
    def _flush_fds(self) -> None:
        t = self.threads.get(self._fd_remove_tid)
        if t is not None:
            table = t.fds
            for fd in self._fds_to_remove:
                table.pop(fd, None)
        self._fds_to_remove.clear()

    def _remove_thread(self, tid: int) -> None:
        self._tid_to_remove = -1
        t = self.threads.get(tid)
        if t is None or t.nchilds:
            return
        if t.flags & CL_CLONE_THREAD and t.tid != t.pid:
            main = self.threads.get(t.pid)
            if main is not None and main.nchilds > 0:
                main.nchilds -= 1
        del self.threads[tid]

    def _live_step(self, tid: int, ts: int) -> None:
        t = self.threads.get(tid)
        if t is not None:
            t.lastaccess_ts = ts
        if ts >= self._next_purge:
            if self._next_purge:
                self.purge_inactive(ts)
            self._next_purge = ts + self.purge_interval_ns

    def purge_inactive(self, now_ns: int, alive=None) -> int:
        """Remove closed threads and threads idle for thread_timeout_ns whose task is gone
        (``alive(pid, tid)``, default: /proc/<pid>/task/<tid> exists). Returns the count."""
        import os
        if alive is None:
            def alive(pid, tid):
                return os.path.exists(f"/proc/{pid}/task/{tid}")
        doomed = [t.tid for t in self.threads.values()
                  if t.flags & CL_CLOSED
                  or (now_ns > t.lastaccess_ts + self.thread_timeout_ns and not alive(t.pid, t.tid))]
        for tid in doomed:
            self.drop_thread(tid)
        return len(doomed)

    def drop_thread(self, tid: int) -> None:
        """Forced removal (sysdig's remove_thread(tid, true)); the parsers use it too."""
        t = self.threads.pop(tid, None)
        if t is not None and t.flags & CL_CLONE_THREAD and t.tid != t.pid:
            main = self.threads.get(t.pid)
            if main is not None and main.nchilds > 0:
                main.nchilds -= 1

    def settle(self) -> None:
        """The held-back event passed the filter: run its parser (``sysdig_filter_order``)."""
        self.filtering = False
        d = self._deferred
        if d is not None:
            self._deferred = None
            if d[0] is not None:
                d[0](self, d[1], d[2])

    def discard(self) -> None:
        """The held-back event failed the filter: as sysdig -r FILTER, its parser never
        runs and its thread forgets the enter event (so the exit will not pair)."""
        self.filtering = False
        d = self._deferred
        if d is not None:
            self._deferred = None
            t = d[2].thread
            if t is not None and self._kind[d[1].type] != _K_SKIP:
                t.lastevent_type = -2

    def placeholder_types(self) -> frozenset[int]:
        """The event types whose processing makes a "<NA>" thread for an unknown tid."""
        return frozenset(t for t, k in enumerate(self._kind) if k in (_K_ENTER, _K_EXIT))

    def flush_pending(self) -> None:
        """Apply what waits for the next event: the held-back parser's fate (discarded
        unless settled), the closed fds and the exited thread. process() does it first;
        a consumer that skips events (falcolib._speedups) calls it before skipping."""
        if self._deferred is not None:
            self.discard()
        if self._fds_to_remove:
            self._flush_fds()
        if self._tid_to_remove != -1:
            self._remove_thread(self._tid_to_remove)

    def process(self, evt) -> EventView:
        """Apply ``evt`` to the state and return its view."""
        if self._deferred is not None or self._fds_to_remove or self._tid_to_remove != -1:
            self.flush_pending()
        self.events += 1
        etype = evt.type
        ts = evt.ts
        self.last_ts = ts
        if not self.first_ts and etype != 272 and etype != 324:  # PPME_CONTAINER_JSON(_2)_E
            self.first_ts = ts
        if self.live:
            self._live_step(evt.tid, ts)
        kind = self._kind[etype]
        fd = None
        if kind == _K_ENTER:
            t = self.threads.get(evt.tid)
            if t is None:
                t = self.get_thread(evt.tid)
                if t is None:
                    return EventView(evt, None, None, self)
            t.flags |= CL_ACTIVE
            t.lastevent_type = etype
            t.latency = 0
            t.last_enter_ts = ts
            if self._uses_fd[etype]:
                fdnum = first_i64(evt)
                t.lastevent_fd = fdnum
                fd = t.fds.get(fdnum)
                if fd is not None:
                    fd.oldname = fd.name
            else:
                t.lastevent_fd = -1
            if self._store[etype]:
                t.lastevent = _keep(evt)
                t.lastevent_valid = True
        elif kind == _K_EXIT or kind == _K_CLONE_X:
            t = self.threads.get(evt.tid)
            if t is None and kind == _K_EXIT:
                t = self.get_thread(evt.tid)
            if t is not None:
                if kind == _K_EXIT:
                    t.flags |= CL_ACTIVE
                if t.last_enter_ts:
                    t.latency = ts - t.last_enter_ts
                if etype == t.lastevent_type + 1:
                    if self._uses_fd[etype]:
                        fd = t.fds.get(t.lastevent_fd)
                        if fd is not None:
                            fd.oldname = fd.name
                else:
                    t.lastevent_valid = False
                    if etype == _WRITE_X and self.sysdig_filter_order:
                        # sysdig's tracer check attaches the last fd to a write exit
                        # before filtering, paired or not (parsers.cpp process_event)
                        fd = t.fds.get(t.lastevent_fd)
                    elif self._exit_fd is not None:
                        t.latency = 0
                        i = self._exit_fd[etype]
                        if i >= 0:
                            fdnum = evt.value(i)
                            if fdnum is not None:
                                t.lastevent_fd = fdnum
                                fd = t.fds.get(fdnum)
                                if fd is not None:
                                    fd.oldname = fd.name
        elif kind == _K_CONTAINER:
            t = None   # the handler puts the container's synthetic thread in the view
        else:
            # no parsing for these, but fields still find a known thread by tid
            # (sysdig's get_thread_info(); an unknown tid stays unknown here)
            t = self.threads.get(evt.tid)
            if self._switch[etype]:
                # thread.exectime: time since the previous switch on this cpu
                last = self._last_switch.get(evt.cpu, 0)
                self._last_switch[evt.cpu] = ts
                self.exectime = (evt, ts - last if last else 0)
                if t is not None:
                    t.totexectime += self.exectime[1]
        view = EventView(evt, t, fd, self)
        handler = self._handlers[etype]
        if self._minor[etype]:
            self._deferred = (handler, evt, view)
        elif handler is not None:
            handler(self, evt, view)
        if self.sysdig_filter_order:
            self.filtering = True
        if t is not None and kind == _K_EXIT:
            # the enter event is consumed by its exit (sysdig's event_cleanup)
            t.lastevent = None
        return view

    # ---------------------------------------------------------- enter pairing
    @staticmethod
    def enter_event(t: ThreadInfo | None, evt):
        """The stored enter event matching exit ``evt`` (sysdig's retrieve_enter_event)."""
        if t is None or not t.lastevent_valid:
            return None
        enter = t.lastevent
        if enter is None or enter.type != evt.type - 1:
            t.lastevent_valid = False
            return None
        return enter


_L4_CHAR = {F.L4_TCP: "t", F.L4_UDP: "u", F.L4_ICMP: "i", F.L4_RAW: "r"}


def _with_slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def _keep(evt):
    """A copy of ``evt`` that owns its bytes (the capture chunk may be large)."""
    raw = evt.raw
    if len(raw.buf) == raw.size and raw.off == 0:
        return evt
    data = bytes(raw.buf[raw.off:raw.off + raw.size])
    ts, tid, etype, nparams, cpu, _buf, _off, size, hdr, flags, num = raw
    return type(evt)(tuple.__new__(type(raw), (ts, tid, etype, nparams, cpu, data, 0, size,
                                               hdr, flags, num)))


__all__ = ["State", "ThreadInfo", "FdInfo", "NO_UID", "fd_from_record"]
