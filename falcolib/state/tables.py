"""Per-event-type tables of the state engine, built once from the parser modules and the
event table (sysdig 0.29's flags where it knew the type): which types pair enter and
exit, use/create/destroy fds, are kept for their exit, are parsed, and which a backend
whose exits carry their parameters can skip (``enterless_types``).
"""
from __future__ import annotations

from falcolib.decode.table import EVENT_FLAGS, EVENTS

_EF_USES_FD = EVENT_FLAGS.get("EF_USES_FD", 0)
_EF_CREATES_FD = EVENT_FLAGS.get("EF_CREATES_FD", 0)
_EF_DESTROYS_FD = EVENT_FLAGS.get("EF_DESTROYS_FD", 0)
_EF_SKIPPARSERESET = EVENT_FLAGS.get("EF_SKIPPARSERESET", 0)
_EF_OLD_VERSION = EVENT_FLAGS.get("EF_OLD_VERSION", 0)

# per-type "kind" codes driving the common pre-parse step (sysdig's reset())
_K_SKIP = 0       # EF_SKIPPARSERESET: no thread, no pairing
_K_ENTER = 1
_K_EXIT = 2
_K_CLONE_X = 3    # clone exits: never create a placeholder thread
_K_CONTAINER = 4  # container JSON: no thread
_WRITE_X = next(i for i, e in enumerate(EVENTS) if e.enum == "PPME_SYSCALL_WRITE_X")


PARSER_MODULES = ("proc_parsers", "fd_parsers", "socket_parsers", "resource_parsers",
                  "container_parsers")


def parser_tables() -> tuple[dict, frozenset]:
    """Every parser module's handlers (driver enum name -> handler) and stored enter events."""
    import importlib
    handlers: dict = {}
    stored: set = set()
    for name in PARSER_MODULES:
        mod = importlib.import_module(f"falcolib.state.{name}")
        handlers.update(mod.HANDLERS)
        stored |= mod.STORE_ENTER
    return handlers, frozenset(stored)


# Enter events whose exit tells the state everything when the exit carries its call's
# parameters (the current libs layouts, which the eBPF backend writes): open*/creat
# (name, flags, dirfd in the exit), and calls whose enter only names the fd they use
# (read/write/close... exits carry ``fd``). A live backend can skip these enters
# (``wanted_types(enterless=True)``); captures keep sysdig's enter-based path.
ENTERLESS_STORED = frozenset({"PPME_SYSCALL_OPEN_E", "PPME_SYSCALL_CREAT_E",
                              "PPME_SYSCALL_OPENAT_2_E", "PPME_SYSCALL_OPENAT2_E"})
ENTERLESS_HANDLED = frozenset({"PPME_SYSCALL_CLOSE_E"})   # close-in-progress: a race marker only


def enterless_types(codes) -> frozenset[int]:
    """The enter events among ``codes`` that an exit carrying its parameters makes unneeded."""
    handlers, stored = parser_tables()
    out = set()
    for code in codes:
        if not 0 <= code < len(EVENTS) - 1:
            continue
        info, exit_info = EVENTS[code], EVENTS[code + 1]
        if info.dir != ">" or exit_info.dir != "<" or exit_info.name != info.name:
            continue
        if info.enum in handlers and info.enum not in ENTERLESS_HANDLED:
            continue
        if info.enum in stored and info.enum not in ENTERLESS_STORED:
            continue
        if _uses_fd_flag(code) and exit_info.index("fd") is None:
            continue
        out.add(code)
    return frozenset(out)


def _uses_fd_flag(code: int) -> bool:
    from falcolib.state.sysdig_flags import FLAGS as SYSDIG_FLAGS
    if code < len(SYSDIG_FLAGS):
        return bool(SYSDIG_FLAGS[code] & 1)
    return bool(EVENTS[code].flags & _EF_USES_FD)


def _build_tables():
    from falcolib.state import proc_parsers
    handlers, stored = parser_tables()
    n = len(EVENTS)
    kind = [0] * n
    uses_fd = [False] * n
    fd_event = [False] * n
    minor = [False] * n
    store = [False] * n
    hand = [None] * n
    exit_fd = [-1] * n
    from falcolib.state.sysdig_flags import FLAGS as SYSDIG_FLAGS
    for code, info in enumerate(EVENTS):
        fl = info.flags
        if code < len(SYSDIG_FLAGS):   # what sysdig 0.29 believed about this type
            sf = SYSDIG_FLAGS[code]
            minor[code] = not sf & 16   # no EF_MODIFIES_STATE
            fl = ((_EF_USES_FD if sf & 1 else 0) | (_EF_CREATES_FD if sf & 2 else 0)
                  | (_EF_DESTROYS_FD if sf & 4 else 0) | (_EF_SKIPPARSERESET if sf & 8 else 0))
        if fl & _EF_SKIPPARSERESET or info.enum in ("PPME_SCHEDSWITCH_1_E", "PPME_SCHEDSWITCH_6_E"):
            kind[code] = _K_SKIP
        elif info.enum in ("PPME_CONTAINER_JSON_E", "PPME_CONTAINER_JSON_2_E"):
            kind[code] = _K_CONTAINER
        elif info.enum in proc_parsers.CLONE_EXITS:
            kind[code] = _K_CLONE_X
        else:
            kind[code] = _K_ENTER if info.dir == ">" else _K_EXIT
        uses_fd[code] = bool(fl & _EF_USES_FD)
        fd_event[code] = bool(fl & (_EF_USES_FD | _EF_CREATES_FD | _EF_DESTROYS_FD))
        store[code] = info.enum in stored
        hand[code] = handlers.get(info.enum)
    for code, info in enumerate(EVENTS):
        if info.dir == "<" and code and uses_fd[code]:
            i = info.index("fd")
            exit_fd[code] = -1 if i is None else i
    return kind, uses_fd, fd_event, store, hand, minor, exit_fd


_TABLES = None


def _types_where(column: int) -> frozenset[int]:
    return frozenset(t for t, yes in enumerate(tables()[column]) if yes)


def fd_event_types() -> frozenset[int]:
    """The event types that use, create or destroy an fd, as the state engine reads
    the flags (sysdig 0.29's where it knew the type): the only ones fd.* fields answer."""
    return _types_where(2)


def fd_using_types() -> frozenset[int]:
    """The event types that use an existing fd (EF_USES_FD, as the state reads the flags)."""
    return _types_where(1)


def tables() -> tuple:
    """(kind, uses_fd, fd_event, store, handlers, minor, exit_fd): one list per column,
    indexed by event type, built on first use."""
    global _TABLES
    if _TABLES is None:
        _TABLES = _build_tables()
    return _TABLES
