"""The C loop for ``falcolib events`` (falcolib._speedups.Printer), set up for a run.

With a state engine, the events of the types Python must see (``deliver``: the
filter's and the parsers') are handed to Python; every other event gets, in C,
what ``State.process`` does for an event no parser wants (enter/exit pairing,
latency, the fd used, the active flag, sysdig's filter-order discard), and,
when the run prints every event with a format of header and thread fields only
(``Formatter.plan()``), its line. Without a state, events are only formatted.
Python still decodes, applies and prints every delivered event and any event the
C loop declines (an unknown thread, a string needing escapes, an odd layout...).
Lines from both go, in event order, into the printer's buffer.

For ``falcolib run --capture`` (``replay_state``) the open* exits are parsed in C
too, and the rules they meet are evaluated there first (``filter.c_rules``): an
exit on which every rule is FALSE never reaches Python.
"""
from __future__ import annotations

import functools

from falcolib.decode.visibility import CONTAINER_TYPES

_NO_PLAN: list = []


def make_printer(reader, fmt, state, escape: bool, deliver: frozenset[int] | None,
                 show: bool, checks=(), lean: frozenset[int] | None = None,
                 scan: frozenset[int] = frozenset(), rules=None):
    """A Printer wired into ``reader`` (a ScapReader reading every type), or None when
    the C loop does not apply (not built, a live or enterless state).

    ``deliver``: the types Python must process (None: all), made of ``scan`` (the
    types the filter can be true on) and ``lean`` (those whose parsers the used fields
    need; default: all of ``deliver``). ``show``: print every visible event (no
    filter), in C where the format allows. ``checks``: the filter's clauses C decides
    (``prefilter.c_checks``): an event of ``scan`` failing one is filtered out in C
    when no parser of its type must run in Python. ``rules``: the Ruleset whose rules
    the open* exits of ``scan`` meet; C keeps such an exit from Python when every one
    of them is FALSE on it (``filter.c_rules``). The parsers of ``_c_parsed`` run in C."""
    from falcolib.speedups import speedups
    mod = speedups()
    if mod is None or (state is not None and (state.live or state._exit_fd is not None)):
        return None
    plan = fmt.plan() if show else _NO_PLAN
    if plan is None:
        return None   # every line needs Python: nothing left for C worth the set-up
    if state is not None and deliver is None:
        return None   # Python must see every event: nothing for C to do
    from falcolib.engine import hidden_types
    hidden = hidden_types()
    n = reader.max_type
    deliver = deliver if deliver is not None else frozenset()
    lean = deliver if lean is None else lean
    in_c = {t for t in _c_parsed().keys() & lean if _c_handler_ok(state, t)} \
        if state is not None else frozenset()
    python = set(CONTAINER_TYPES)
    checked = set()
    program = None
    if rules is not None and state is not None and not checks:
        from falcolib.filter import c_rules
        ruled = {t for t in scan & in_c if _c_parsed()[t] in _OPENS or _c_parsed()[t] == 15}
        program = c_rules.build(rules, ruled, {t for t in ruled if _c_parsed()[t] in _OPENS})
    for t in deliver:
        if t in scan:
            if program is not None and t in program.roots:
                checked.add(t)      # the rules in C, on the fd the open adds
            elif checks and (t not in lean or t in in_c or not _parsed_in_python(state, t)):
                checked.add(t)      # the filter's clauses first, in C
            else:
                python.add(t)
        elif t in lean and t not in in_c and _parsed_in_python(state, t):
            python.add(t)
        # else: there for its bookkeeping only (the other half of a pair, an enter kept
        # for its exit), which the C loop gives it
    kinds = flags = None
    parsers = bytearray(n)
    if state is not None:
        kinds, flags = state_tables(state, n, python,
                                    {t for t in in_c if _c_parsed()[t] in _OPENS},
                                    {t for t in in_c if _c_parsed()[t] in _WITH_ENTER})
        codes = _c_parsed()
        for t in in_c:
            if t < n:
                parsers[t] = codes[t]
    actions = bytearray(n)
    for t in range(n):
        if t in python:
            actions[t] = mod.ACTION_PYTHON
        elif t in checked:
            actions[t] = mod.ACTION_CHECK
        elif show and not hidden[t]:
            actions[t] = mod.ACTION_SHOW | (mod.ENTER_EXIT if kinds and kinds[t] in (1, 2) else 0)
        else:
            actions[t] = mod.ACTION_SKIP
    from falcolib.decode.table import EVENTS, SYSCALL_NAMES
    from falcolib.fields.evt import _NAMES
    from falcolib.state.fdinfo import FdInfo
    from falcolib.state.threadinfo import ThreadInfo
    names = tuple(x.encode() for x in _NAMES) + tuple(
        e.name.encode() for e in EVENTS[len(_NAMES):])
    extra = {}
    if state is not None:
        from falcolib.state import fdinfo
        from falcolib.state.engine import CANCELED_FD
        from falcolib.state.threadinfo import CL_CLOSED
        extra = {"state": state, "kinds": kinds, "flags": flags, "fd_type": FdInfo,
                 "keep": _kept, "kept_types": _kept_types(),
                 "checks": list(checks) if checks else None, "parsers": bytes(parsers),
                 "fd_flags": (fdinfo.FLAGS_CLOSE_IN_PROGRESS, fdinfo.FLAGS_CLOSE_CANCELED,
                              CANCELED_FD, fdinfo.FD_IPV4_SOCK, fdinfo.FD_IPV6_SOCK,
                              fdinfo.FLAGS_SOCKET_CONNECTED, fdinfo.FLAGS_CONNECTION_PENDING,
                              fdinfo.FLAGS_CONNECTION_FAILED, CL_CLOSED)}
        if any(parsers[t] in _OPENS or parsers[t] in _EXITS for t in in_c if t < n):
            from falcolib.decode.event import Event
            from falcolib.state import fd_parsers as FP
            from falcolib.state.resource_parsers import PPM_RLIMIT_NOFILE
            extra["open"] = (Event, state.max_fds, FP.PPM_O_DIRECTORY, fdinfo.FD_FILE_V2,
                             fdinfo.FD_DIRECTORY, fdinfo.FD_FIFO, PPM_RLIMIT_NOFILE,
                             FP.PPM_FCNTL_F_DUPFD, FP.PPM_FCNTL_F_DUPFD_CLOEXEC,
                             _socket_constants())
            if program is not None:
                extra["rules"] = program.spec()
    printer = mod.Printer(bytes(actions), plan, fmt.require_all if fmt is not None else True,
                          names,
                          tuple(x.encode() for x in SYSCALL_NAMES),
                          state.threads if state is not None else None, ThreadInfo, escape,
                          **extra)
    reader.set_fast(printer, state.flush_pending if state is not None else None)
    return printer


def replay_state(backend, engine, types: frozenset[int]):
    """For ``falcolib run --capture``: the State the engine runs with, the C loop wired into
    the scap ``backend`` (entered, reading every type) so that Python is handed only the
    rules' event types and those whose parsers the rules' fields need (``types``, the
    engine's lean wanted types); the rest get the state's bookkeeping in C. None when the
    C loop does not apply (the backend then reads ``types`` as usual)."""
    reader = getattr(backend, "reader", None)
    fields = engine.used_fields()
    scan = engine.ruleset.evttypes()
    from falcolib.speedups import speedups
    if reader is None or fields is None or scan is None or speedups() is None:
        if reader is not None:
            reader.set_types(types)
        return None
    from falcolib.state import State, wanted_types as state_types
    from falcolib.state.groups import canonical
    state = State(backend.snapshot())
    lean = state_types(False, canonical(fields))
    if make_printer(reader, None, state, False, types, show=False, lean=lean,
                    scan=frozenset(scan), rules=engine.ruleset) is None:
        reader.set_types(types)
    return state


def _parsed_in_python(state, t: int) -> bool:
    """Whether processing type ``t`` runs Python code beyond the bookkeeping C does: a
    parser, or the clone-exit and container-event paths."""
    from falcolib.state import engine as E
    if state is None:
        return True
    if t >= len(state._kind):
        return True
    return state._handlers[t] is not None or state._kind[t] in (E._K_CLONE_X, E._K_CONTAINER)


def _kept_types():
    """(RawEvent, Event): what the C loop makes the kept enters of (as _kept does)."""
    from falcolib.backend.model import RawEvent
    from falcolib.decode.event import Event
    return RawEvent, Event


def _kept(data: bytes, ts: int, tid: int, etype: int, nparams: int, cpu: int, num: int):
    """The Event the state keeps for an enter's exit (State's _keep), made for C."""
    from falcolib.backend.model import RawEvent
    from falcolib.decode.event import Event
    return Event(tuple.__new__(RawEvent, (ts, tid, etype, nparams, cpu, data, 0, len(data),
                                          26, 0, num)))


@functools.lru_cache(maxsize=1)
def _c_parsed() -> dict[int, int]:
    """The parsers falcolib/_speedups.c runs itself, by type: 1/2 close's enter and exit
    (fd_parsers.parse_close_enter/exit), 3 the read/write exits whose parser only marks an
    ip socket connected (socket_parsers._rw_exit without an address), 4-8 the open,
    creat, openat, openat (2) and openat2 exits (fd_parsers.parse_open_exit, in
    falcolib/_speedups_open.c), 9 sendto's enter on a known fd (parse_sendto_enter does
    nothing then; C hands Python the others), 10 connect's enter (parse_connect_enter)
    with an IPv4 address or none, 11 the thread exits (proc_parsers.parse_thread_exit),
    12 pipe/pipe2 exits (fd_parsers.parse_pipe_exit), 13 getrlimit/setrlimit exits
    (resource_parsers.parse_rlimit_exit), 14 fcntl exits (fd_parsers.parse_fcntl_exit;
    F_DUPFD on a known fd is Python's), 15 socket exits (socket_parsers.parse_socket_exit),
    16 recvfrom/recvmsg/sendto/sendmsg exits (socket_parsers._rw_exit with an address:
    C takes a failed call or a named IPv4 TCP socket, where it does what 3 does).
    tests/test_speedups.py compares them with Python's."""
    from falcolib.decode.table import EVENTS
    out = {}
    for t, e in enumerate(EVENTS):
        if e.enum == "PPME_SYSCALL_CLOSE_E":
            out[t] = 1
        elif e.enum == "PPME_SYSCALL_CLOSE_X":
            out[t] = 2
        elif e.enum in _RW_EXITS:
            out[t] = 3
        elif e.enum in _OPEN_EXITS:
            out[t] = _OPEN_EXITS[e.enum]
        elif e.enum == "PPME_SOCKET_SENDTO_E":
            out[t] = 9
        elif e.enum == "PPME_SOCKET_CONNECT_E":
            out[t] = 10
        elif e.enum in ("PPME_PROCEXIT_E", "PPME_PROCEXIT_1_E"):
            out[t] = 11
        elif e.enum in _OTHER_EXITS:
            out[t] = _OTHER_EXITS[e.enum]
    return out


def _c_handler_ok(state, t: int) -> bool:
    """Whether the state's parser of type ``t`` is still the one C mirrors (parsers 4-8:
    fd_parsers.parse_open_exit, 9/10 socket_parsers.parse_sendto_enter/connect_enter, 11
    proc_parsers.parse_thread_exit, 12-15 the pipe, rlimit, fcntl and socket exit parsers,
    16 socket_parsers' own _rw_exit handler of the type); a state
    whose parser was replaced keeps it in Python."""
    code = _c_parsed()[t]
    if code < 4:
        return True
    from falcolib.state import fd_parsers as FP
    from falcolib.state import socket_parsers as SP
    if code == 16:
        from falcolib.decode.table import EVENTS
        return t < len(state._handlers) and state._handlers[t] is SP.HANDLERS[EVENTS[t].enum]
    from falcolib.state.proc_parsers import parse_thread_exit
    from falcolib.state.resource_parsers import parse_rlimit_exit
    want = {9: SP.parse_sendto_enter, 10: SP.parse_connect_enter, 11: parse_thread_exit,
            12: FP.parse_pipe_exit, 13: parse_rlimit_exit, 14: FP.parse_fcntl_exit,
            15: SP.parse_socket_exit}.get(code, FP.parse_open_exit)
    return t < len(state._handlers) and state._handlers[t] is want


_OPENS = range(4, 9)   # the codes of the open* exit parsers (falcolib/_speedups_open.c)
# pipe, rlimit, fcntl, socket exits (_speedups_open.c) and socket io with an address (16)
_EXITS = range(12, 17)
# exits whose enter C keeps: their C parser reads it, or Python's may (what C declines)
_WITH_ENTER = frozenset({*_OPENS, 13, 14, 15, 16})
_OTHER_EXITS = {"PPME_SYSCALL_PIPE_X": 12, "PPME_SYSCALL_PIPE2_X": 12,
                "PPME_SYSCALL_GETRLIMIT_X": 13, "PPME_SYSCALL_SETRLIMIT_X": 13,
                "PPME_SYSCALL_FCNTL_X": 14, "PPME_SOCKET_SOCKET_X": 15,
                "PPME_SOCKET_RECVFROM_X": 16, "PPME_SOCKET_RECVMSG_X": 16,
                "PPME_SOCKET_SENDTO_X": 16, "PPME_SOCKET_SENDMSG_X": 16}


def _socket_constants() -> tuple[int, ...]:
    """What socket_parsers.add_socket compares and writes, in _speedups_open.c's order."""
    from falcolib.state import fdinfo as F
    from falcolib.state import socket_parsers as SP
    from falcolib.state import sockaddr as A
    return (A.AF_UNIX, A.AF_INET, A.AF_INET6, A.AF_NETLINK, F.FD_UNIX_SOCK, F.FD_NETLINK,
            F.L4_UNKNOWN, F.L4_TCP, F.L4_UDP, F.L4_ICMP, F.L4_RAW, SP.IPPROTO_IP,
            SP.IPPROTO_ICMP, SP.IPPROTO_TCP, SP.IPPROTO_UDP, SP.IPPROTO_RAW, SP.SOCK_STREAM,
            SP.SOCK_DGRAM, SP.SOCK_RAW)
_OPEN_EXITS = {"PPME_SYSCALL_OPEN_X": 4, "PPME_SYSCALL_CREAT_X": 5, "PPME_SYSCALL_OPENAT_X": 6,
               "PPME_SYSCALL_OPENAT_2_X": 7, "PPME_SYSCALL_OPENAT2_X": 8}


_RW_EXITS = frozenset({
    "PPME_SYSCALL_READ_X", "PPME_SOCKET_RECV_X", "PPME_SYSCALL_READV_X", "PPME_SYSCALL_PREAD_X",
    "PPME_SYSCALL_PREADV_X", "PPME_SYSCALL_WRITE_X", "PPME_SOCKET_SEND_X",
    "PPME_SYSCALL_WRITEV_X", "PPME_SYSCALL_PWRITE_X", "PPME_SYSCALL_PWRITEV_X"})


def state_tables(state, n: int, python, c_open=frozenset(),
                 c_enters=None) -> tuple[bytes, bytes]:
    """Per type, for the C bookkeeping: the kind (0 no pairing, 1 enter, 2 exit, 3 only
    Python: clone exits, container events; 4 an enter kept for its exit) and flags
    (1: uses an fd; 2: discarded after the filter, in sysdig's filter order; 4: fd.*
    fields answer it; 8: its fd.name may come from the event itself, connect's exit, or
    from the parse C runs, the open* exits of ``c_open``). An enter kept for its exit's
    parser is kept by C when Python is not handed it (``python``): the exits ``python``
    and ``c_enters`` (those whose C parser reads the enter; default ``c_open``) say which."""
    if c_enters is None:
        c_enters = c_open
    from falcolib.decode.table import EVENTS
    from falcolib.state import engine as E
    connect_exits = {t for t, e in enumerate(EVENTS) if e.enum == "PPME_SOCKET_CONNECT_X"}
    kinds = bytearray(n)
    flags = bytearray(n)
    for t in range(min(n, len(state._kind))):
        k = state._kind[t]
        if k == E._K_ENTER:
            # kept for the exit's parser when Python runs it, else an ordinary enter
            kinds[t] = (3 if t in python else 4 if t + 1 in python or t + 1 in c_enters
                        else 1) if state._store[t] else 1
        elif k == E._K_EXIT:
            kinds[t] = 2
        elif k in (E._K_CLONE_X, E._K_CONTAINER):
            kinds[t] = 3
        flags[t] = (1 if state._uses_fd[t] else 0) | (
            2 if state._minor[t] and k != E._K_SKIP else 0) | (
            4 if state.fd_event[t] else 0) | (8 if t in connect_exits or t in c_open else 0)
    return bytes(kinds), bytes(flags)
