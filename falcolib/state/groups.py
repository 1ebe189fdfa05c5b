"""Which event types the state engine needs for which fields ("lean state").

The parsers fall into four groups by what they change, declared next to their
handlers (each parser module's ``GROUP`` and ``GROUP_OF``):

- ``thread``: the thread table (clone, execve, exit, cwd, ids, caps, rlimits, prctl)
  and the container table. Always delivered: every proc.*/thread.*/user.*/
  container.* answer, and the thread an event belongs to, come from it.
- ``fd``: the fd tables (open*, close, dup, pipe, socket, connect, accept, bind,
  sendto/recvfrom tuples...). Needed by fd.*, fs.path.*, evt.args/info (fd
  labels, paths relative to a dirfd) and by proc.cwd/proc.exepath (fchdir and
  execveat read an fd's name).
- ``io``: reads and writes without an address (read, write, recv, send...):
  they only mark a socket connected, which only fd.connected reads.
- ``mem``: sched switch and the mmap/munmap/brk exits: memory sizes, page
  faults and CPU times (proc.vm*, thread.vm*, thread.pf*, thread.*exectime).

A group's types are its handled and stored events plus the other half of each
enter/exit pair (pairing needs both). ``groups_for(fields)`` maps canonical
field names to the groups their answers depend on; ``types_for(fields)`` gives
the event types, ``None`` standing for "every field": the full state set.

What is skipped with a group: its handlers, and the per-event bookkeeping of
its events (enter/exit pairing, latency, the thread's last fd, the "<NA>"
placeholder made for an unknown thread id, evt.reltime's first event). Within
one thread an exit follows its own enter, so the bookkeeping a delivered event
sees is that of its own pair; fields that read bookkeeping across events
(latencies, relative and delta times) need every event of the capture
(``EVERY_EVENT``: ``falcolib.engine.wanted_types`` then returns None). Fields
not listed here are treated the same way. So are thread fields read on the types
whose thread is looked up without making a placeholder (``lookup_only_types``:
switch, procinfo, page faults): an unknown tid has a thread there only if an event
of any type came before.

Placing a new handler: it belongs to ``thread`` as soon as it changes something a
field outside its group reads (the dup exits set the thread's pipe flags, which no
field reads: they stay ``fd``). Known approximations: an exit whose enter was lost
(drops) reads the thread's last fd or enter time from whatever enter came before it,
which differs when that enter was of a type not delivered; a main thread made for a
non-main one by a field (proc.nthreads, proc.cwd...) on an event not delivered is
made later, counting its threads then.
"""
from __future__ import annotations

import functools
import importlib

THREAD, FD, IO, MEM = "thread", "fd", "io", "mem"
GROUPS = (THREAD, FD, IO, MEM)
ALWAYS = frozenset({THREAD})
EVERYTHING = frozenset(GROUPS)
# not a parser group: the field reads what every event leaves behind (see _EVERY_EVENT)
EVERY_EVENT = "every-event"

# --- fields -> groups (canonical names: falcolib.fields.lookup(name).name) ---------
# Event-only fields, and fields answered by the thread table alone (always kept).
_NO_GROUP = """
evt.num evt.time evt.time.s evt.time.iso8601 evt.datetime evt.datetime.s evt.rawtime
evt.rawtime.s evt.rawtime.ns evt.outputtime evt.dir evt.type evt.type.is syscall.type
evt.syscall.type evt.cpu evt.rawarg evt.buffer evt.res evt.rawres evt.failed evt.is_io
evt.is_io_read evt.is_io_write evt.io_dir evt.is_wait evt.count evt.count.error
evt.count.error.memory evt.count.exit evt.is_open_read evt.is_open_write evt.is_open_exec
evt.is_open_create evt.hostname evt.pluginname evt.plugininfo evt.around
thread.tid thread.vtid thread.ismain thread.cgroups thread.cgroup thread.nametid
thread.cap_permitted thread.cap_inheritable thread.cap_effective
thread.cpu thread.cpu.user thread.cpu.system
proc.pid proc.exe proc.name proc.sid proc.vpgid proc.tty proc.nchilds proc.is_exe_writable
proc.is_exe_upper_layer proc.is_exe_from_memfd proc.exe_ino proc.exe_ino.ctime
proc.exe_ino.mtime proc.pidns_init_start_ts proc.args proc.cmdnargs proc.cmdlenargs
proc.env proc.cmdline proc.exeline proc.nthreads proc.ppid proc.pname proc.pcmdline
proc.pexe proc.pvpid proc.apid proc.aname proc.aexe proc.loginshellid proc.duration
proc.ppid.duration proc.pid.ts proc.ppid.ts proc.exe_ino.ctime_duration_proc_start
proc.exe_ino.ctime_duration_pidns_start proc.vpid proc.fdlimit proc.sname proc.sid.exe
proc.vpgid.name proc.vpgid.exe proc.is_sid_leader proc.is_vpgid_leader
proc.is_container_healthcheck proc.is_container_liveness_probe
proc.is_container_readiness_probe
user.uid user.name user.homedir user.shell user.loginuid user.loginname group.gid group.name
container.id container.name container.image container.image.id container.image.repository
container.image.tag container.image.digest container.type container.privileged
container.mounts container.mount container.mount.source container.mount.dest
container.mount.mode container.mount.rdwr container.mount.propagation container.ip
container.duration container.start_ts container.healthcheck container.liveness_probe
container.readiness_probe
k8s.pod.name k8s.pod.id k8s.pod.uid k8s.pod.label k8s.pod.labels k8s.ns.name k8s.ns.id
k8s.ns.label k8s.ns.labels k8s.rc.name k8s.rc.id k8s.rc.label k8s.rc.labels k8s.rs.name
k8s.rs.id k8s.rs.label k8s.rs.labels k8s.svc.name k8s.svc.id k8s.svc.label k8s.svc.labels
k8s.deployment.name k8s.deployment.id k8s.deployment.label k8s.deployment.labels
"""
# Fields reading an fd table, an fd's name, or a cwd/exe path an fd's name can set.
_FD = """
fd.num fd.type fd.typechar fd.name fd.uid fd.directory fd.filename fd.ip fd.cip fd.sip
fd.lip fd.rip fd.port fd.cport fd.sport fd.lport fd.rport fd.l4proto fd.sockfamily
fd.is_server fd.containername fd.containerdirectory fd.proto fd.cproto fd.sproto fd.lproto
fd.rproto fd.net fd.cnet fd.snet fd.lnet fd.rnet fd.name_changed fd.cip.name fd.sip.name
fd.lip.name fd.rip.name fd.dev fd.dev.major fd.dev.minor fd.ino fd.nameraw fd.types
fdlist.nums fdlist.names fdlist.cips fdlist.sips fdlist.cports fdlist.sports
fs.path.name fs.path.nameraw fs.path.source fs.path.sourceraw fs.path.target
fs.path.targetraw syslog.facility syslog.facility.str syslog.severity syslog.severity.str
syslog.message
evt.args evt.info evt.arg evt.category evt.buflen evt.count.error.file evt.count.error.net
evt.count.error.other evt.is_syslog evt.abspath evt.abspath.src evt.abspath.dst
proc.cwd proc.exepath proc.pexepath proc.aexepath proc.sid.exepath proc.vpgid.exepath
proc.fdopencount proc.fdusage
"""
_FD_IO = "fd.connected"
_MEM = """
proc.vmsize proc.vmrss proc.vmswap thread.pfmajor thread.pfminor thread.vmsize thread.vmrss
thread.vmsize.b thread.vmrss.b thread.exectime thread.totexectime
"""
# Answers that depend on every event of the capture, whatever its type: the enter->exit
# latency (the thread's last enter of any type when the exit is unpaired), the capture's
# first event (evt.reltime), the previous event the field was evaluated on (deltatime,
# latency.human's repeated text). Their consumers get every event.
_EVERY_EVENT = """
evt.latency evt.latency.s evt.latency.ns evt.latency.quantized evt.latency.human
evt.wait_latency evt.reltime evt.reltime.s evt.reltime.ns evt.deltatime evt.deltatime.s
evt.deltatime.ns
"""

FIELD_GROUPS: dict[str, frozenset[str]] = {
    **{n: frozenset() for n in _NO_GROUP.split()},
    **{n: frozenset({FD}) for n in _FD.split()},
    **{n: frozenset({FD, IO}) for n in _FD_IO.split()},
    **{n: frozenset({MEM}) for n in _MEM.split()},
    **{n: EVERYTHING | {EVERY_EVENT} for n in _EVERY_EVENT.split()},
}


def groups_for(fields) -> frozenset[str]:
    """The parser groups the answers of ``fields`` (canonical names) depend on, thread
    included, plus ``EVERY_EVENT`` when they need every event of the capture (also for a
    field not listed here). ``None`` (any field): every parser group."""
    if fields is None:
        return EVERYTHING
    out = set(ALWAYS)
    for name in fields:
        g = FIELD_GROUPS.get(name)
        if g is None:
            return EVERYTHING | {EVERY_EVENT}
        out |= g
    return frozenset(out)


def needs_every_event(fields) -> bool:
    """Whether ``fields`` (canonical names; None: unknown, so yes) read what every event
    of the capture leaves behind: their consumer must get all events, not only the
    types of its filter and of the state's parsers."""
    return fields is None or EVERY_EVENT in groups_for(fields)


def canonical(names) -> frozenset[str] | None:
    """Canonical field names of ``names`` as written (``evt.arg.fd`` -> ``evt.arg``);
    None if one is unknown (then every group is needed)."""
    from falcolib.errors import FalcolibError
    from falcolib.fields import lookup
    out = set()
    for n in names:
        try:
            out.add(lookup(n).name)
        except FalcolibError:
            return None
    return frozenset(out)


# --- event types -> groups (from the parser modules' tables) -------------------------
def _module_groups(mod) -> dict[str, str]:
    """enum -> group for every handled or stored event of one parser module."""
    default = mod.GROUP
    over = getattr(mod, "GROUP_OF", {})
    return {name: over.get(name, default) for name in (*mod.HANDLERS, *mod.STORE_ENTER)}


@functools.cache
def type_groups() -> dict[int, frozenset[str]]:
    """Event type code -> the groups whose parsers handle or store it (or its pair's other half)."""
    from falcolib.decode.table import EVENTS
    from falcolib.state.engine import PARSER_MODULES
    by_enum: dict[str, set[str]] = {}
    for name in PARSER_MODULES:
        mod = importlib.import_module(f"falcolib.state.{name}")
        for enum, group in _module_groups(mod).items():
            if group not in GROUPS:
                raise ValueError(f"{name}: unknown parser group {group!r} for {enum}")
            by_enum.setdefault(enum, set()).add(group)
    out: dict[int, set[str]] = {}
    n = len(EVENTS)
    for info in EVENTS:
        gs = by_enum.get(info.enum)
        if gs is None:
            continue
        for code in (info.code, info.code ^ 1):   # the other half of the enter/exit pair
            if code < n:
                out.setdefault(code, set()).update(gs)
    return {c: frozenset(g) for c, g in out.items()}


@functools.cache
def group_types(groups: frozenset[str]) -> frozenset[int]:
    """The event types of the parsers in ``groups`` (``EVERY_EVENT`` adds none)."""
    return frozenset(c for c, gs in type_groups().items() if gs & groups)


def types_for(fields=None) -> frozenset[int]:
    """The event types the state must see so that ``fields`` (canonical names; None:
    any field) answer as with every parser running."""
    return group_types(groups_for(fields))


@functools.cache
def lookup_only_types() -> frozenset[int]:
    """Types whose thread ``State.process`` looks up without making the "<NA>" placeholder
    of an unknown tid (no pairing: sched switch, procinfo, page faults...). On these, a
    thread first seen in an event of a type not delivered is missing where the full state
    has its placeholder (proc.pid 1234 against <NA>)."""
    from falcolib.state.tables import tables
    kinds = tables()[0]
    return frozenset(c for c, k in enumerate(kinds) if k == 0)


# the switch events: State.process itself keeps thread.exectime/totexectime on every one
SWITCH_EVENTS = ("PPME_SCHEDSWITCH_1_E", "PPME_SCHEDSWITCH_6_E")


@functools.cache
def filter_first_types() -> frozenset[int]:
    """State types a filtered replay in sysdig's order (``State(sysdig_filter_order=True)``)
    need not deliver when the filter cannot be true on them: their parser runs only for
    events passing the filter (sysdig 0.29 flags: no EF_MODIFIES_STATE), and nothing else
    in ``State.process`` depends on them. The switch events are not among them
    (process() counts CPU time on each), nor is any type when the fields read
    cross-event bookkeeping (see ``lean_types``)."""
    from falcolib.decode.table import EVENTS
    from falcolib.state.sysdig_flags import FLAGS
    return frozenset(c for c in range(min(len(FLAGS), len(EVENTS)))
                     if not FLAGS[c] & 16 and EVENTS[c].enum not in SWITCH_EVENTS)


def lean_types(fields=None, *, sysdig_order: bool = False) -> frozenset[int]:
    """``types_for(fields)``; with ``sysdig_order`` (the consumer's types are the ones its
    filter can be true on, evaluated before the parsers as sysdig does), without
    ``filter_first_types()`` unless the fields are unknown or need every event."""
    groups = groups_for(fields)
    out = group_types(groups)
    if sysdig_order and fields is not None and EVERY_EVENT not in groups:
        out -= filter_first_types()
    return out


__all__ = ["THREAD", "FD", "IO", "MEM", "GROUPS", "EVERYTHING", "EVERY_EVENT", "FIELD_GROUPS",
           "groups_for", "needs_every_event",
           "canonical", "type_groups", "group_types", "types_for", "filter_first_types",
           "lean_types", "lookup_only_types"]
