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
   - container JSON events (PPME_CONTAINER_JSON_E/_2_E) when the container
     is already known with a successful lookup, or its lookup failed
     (parsers.cpp parse_container_json_evt): in the shared captures they
     are all hidden except psp_privileged.scap's single one.
   - tracer writes that are still being assembled (sysdig's tracers).
"""
from __future__ import annotations

from falcolib.decode.table import EVENT_CATEGORIES, SYSDIG_EVENT_MAX, SYSDIG_EVENTS

SCAP_DF_STATE_ONLY = 1
_INTERNAL = EVENT_CATEGORIES["EC_INTERNAL"]
INTERNAL_TYPES: frozenset[int] = frozenset(
    e.code for e in SYSDIG_EVENTS if e.category & _INTERNAL)
CONTAINER_JSON_TYPES: frozenset[int] = frozenset(
    e.code for e in SYSDIG_EVENTS if e.name == "container" and not e.category & _INTERNAL)


def sysdig_counts(etype: int) -> bool:
    """Whether sysdig gives this event a number (reads it at all)."""
    return etype < SYSDIG_EVENT_MAX


def sysdig_hides(etype: int, dump_flags: int = 0) -> bool:
    """Whether sysdig never prints this event (it is still numbered).
    Container JSON events depend on state: see ``CONTAINER_JSON_TYPES``."""
    return etype >= SYSDIG_EVENT_MAX or etype in INTERNAL_TYPES \
        or bool(dump_flags & SCAP_DF_STATE_ONLY)


class SysdigNumbering:
    """Renumber a raw stream as sysdig does: ``number(raw)`` returns the
    sysdig evt.num of a raw event, or None when sysdig skips it."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def number(self, etype: int) -> int | None:
        if etype >= SYSDIG_EVENT_MAX:
            return None
        self.count += 1
        return self.count
