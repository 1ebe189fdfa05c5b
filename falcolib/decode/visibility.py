"""Which events sysdig 0.29 numbers (evt.num) and which it shows.

Facts from libs e5c53d64, checked on every shared capture:

1. libscap skips, without counting, every event whose type is at or above
   its PPM_EVENT_MAX (336): scap_savefile.c "We're reading a capture that
   contains new syscalls... skip them". So in a capture holding newer
   events (sample.scap: useradded/groupadded, codes 354/358), sysdig's
   evt.num is the position among events of type < 336 only.
2. sinsp::next counts (m_nevts++) every other event, including the ones it
   then hides. cat_write.scap starts at evt.num 131 because events 1..130
   are PPME_PROCINFO_E (the /proc snapshot written at capture start).
3. Hidden, but counted:
   - internal events (EC_INTERNAL in sysdig's table): procinfo, drop,
     sysdigevent/scapevent, the old container event, k8s, mesos, infra;
   - events flagged SCAP_DF_STATE_ONLY in their EVF block (fatfile mode);
   - container events (CONTAINER_E/CONTAINER_JSON_E/_2_E) at the very start
     of the capture, before any other event: sinsp::open consumes them
     (calling next(), so they are numbered) to know the containers before
     importing the thread table. A container event later in the stream is
     shown (psp_privileged.scap #1405) unless parse_container_json_evt
     filters it (thread's container already looked up successfully, or a
     failed lookup: lookup_state in the JSON);
   - tracer writes that are still being assembled (sysdig's tracers).
4. sinsp::open then calls fix_sockets_coming_from_proc: sockets from the
   capture's fd table are turned so the client side comes first (the state
   engine's job, noted here because it changes fd names in %evt.args).
"""
from __future__ import annotations

from falcolib.decode.table import EVENT_CATEGORIES, SYSDIG_EVENT_MAX, SYSDIG_EVENTS

SCAP_DF_STATE_ONLY = 1
_INTERNAL = EVENT_CATEGORIES["EC_INTERNAL"]
INTERNAL_TYPES: frozenset[int] = frozenset(
    e.code for e in SYSDIG_EVENTS if e.category & _INTERNAL)
CONTAINER_TYPES: frozenset[int] = frozenset(
    e.code for e in SYSDIG_EVENTS if e.name == "container")


def sysdig_counts(etype: int) -> bool:
    """Whether sysdig gives this event a number (reads it at all)."""
    return etype < SYSDIG_EVENT_MAX


def sysdig_hides(etype: int, dump_flags: int = 0) -> bool:
    """Whether sysdig never prints this event (it is still numbered).
    Leading container events are hidden too: see ``SysdigNumbering.visible``."""
    return etype >= SYSDIG_EVENT_MAX or etype in INTERNAL_TYPES \
        or bool(dump_flags & SCAP_DF_STATE_ONLY)


class SysdigNumbering:
    """Renumber a raw stream as sysdig does: ``number(etype)`` returns the
    sysdig evt.num of a raw event, or None when sysdig skips it;
    ``visible(etype, dump_flags)`` (after ``number``) whether sysdig prints it."""

    __slots__ = ("count", "started")

    def __init__(self) -> None:
        self.count = 0
        self.started = False   # a non-container event has been seen

    def number(self, etype: int) -> int | None:
        if etype >= SYSDIG_EVENT_MAX:
            return None
        self.count += 1
        return self.count

    def visible(self, etype: int, dump_flags: int = 0) -> bool:
        if etype in CONTAINER_TYPES:
            return self.started and not sysdig_hides(etype, dump_flags)
        self.started = True
        return not sysdig_hides(etype, dump_flags)
