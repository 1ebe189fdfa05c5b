"""Resource-accounting parsers: fd limits, memory sizes, page faults, capabilities.

Each handler is ``handler(state, evt, view)`` (libsinsp 0.29's parse_getrlimit_setrlimit_exit,
parse_prlimit_exit, parse_brk_munmap_mmap_exit, parse_context_switch; capset as newer libs).
"""
from __future__ import annotations

import struct

from falcolib.state.groups import MEM, THREAD
from falcolib.state.proc_parsers import _v


def parse_capset_exit(state, evt, view) -> None:
    t = view.thread
    if t is None or _v(evt, 0, -1) < 0 or evt.nparams < 4:
        return
    t.cap_inheritable, t.cap_permitted, t.cap_effective = _v(evt, 1, 0), _v(evt, 2, 0), _v(evt, 3, 0)


PPM_RLIMIT_NOFILE = 7


def parse_rlimit_exit(state, evt, view) -> None:
    """getrlimit/setrlimit of RLIMIT_NOFILE sets the process' fd limit (proc.fdlimit)."""
    t = view.thread
    if t is None or _v(evt, 0, -1) < 0:
        return
    enter = state.enter_event(t, evt)
    if enter is None or _v(enter, 0, -1) != PPM_RLIMIT_NOFILE:
        return
    cur = _v(evt, 1, -1)
    m = state.main_thread(t)
    if cur not in (-1, 0xFFFFFFFFFFFFFFFF) and m is not None:
        m.fdlimit = cur


def parse_prlimit_exit(state, evt, view) -> None:
    t = view.thread
    if _v(evt, 0, -1) < 0:
        return
    enter = state.enter_event(t, evt)
    if enter is None or _v(enter, 1, -1) != PPM_RLIMIT_NOFILE:
        return
    cur = _v(evt, 1, -1)
    if cur in (-1, 0xFFFFFFFFFFFFFFFF):
        return
    tid = _v(enter, 0, 0) or evt.tid
    target = state.get_thread(tid)
    m = state.main_thread(target) if target is not None else None
    if m is not None:
        m.fdlimit = cur


def parse_mem_exit(state, evt, view) -> None:
    t = view.thread
    if t is not None and evt.nparams >= 4:
        t.vmsize_kb, t.vmrss_kb, t.vmswap_kb = _v(evt, 1, 0), _v(evt, 2, 0), _v(evt, 3, 0)


_SWITCH = struct.Struct("<6H qQQIII")


def parse_context_switch(state, evt, view) -> None:
    t = view.thread
    if t is None or evt.nparams != 6:
        return
    raw = evt.raw
    try:
        l0, l1, l2, l3, l4, l5, _nxt, pfmaj, pfmin, vms, vmr, vmw = \
            _SWITCH.unpack_from(raw.buf, raw.off + raw.hdr)
    except struct.error:
        return
    if (l0, l1, l2, l3, l4, l5) != (8, 8, 8, 4, 4, 4):
        return
    t.pfmajor, t.pfminor = pfmaj, pfmin
    m = t if t.is_main else state.threads.get(t.pid)
    if m is not None:
        m.vmsize_kb, m.vmrss_kb, m.vmswap_kb = vms, vmr, vmw


HANDLERS = {
    "PPME_SYSCALL_CAPSET_X": parse_capset_exit,
    "PPME_SYSCALL_GETRLIMIT_X": parse_rlimit_exit,
    "PPME_SYSCALL_SETRLIMIT_X": parse_rlimit_exit,
    "PPME_SYSCALL_PRLIMIT_X": parse_prlimit_exit,
    "PPME_SYSCALL_BRK_4_X": parse_mem_exit,
    "PPME_SYSCALL_MMAP_X": parse_mem_exit,
    "PPME_SYSCALL_MMAP2_X": parse_mem_exit,
    "PPME_SYSCALL_MUNMAP_X": parse_mem_exit,
    "PPME_SCHEDSWITCH_6_E": parse_context_switch,
}
STORE_ENTER: frozenset[str] = frozenset()

# lean state (falcolib.state.groups): caps and rlimits are thread state; memory sizes,
# page faults and switch times are only read by the memory/CPU-time fields
GROUP = THREAD
GROUP_OF = {name: MEM for name, h in HANDLERS.items() if h in (parse_mem_exit, parse_context_switch)}
