"""The few kernel calls the running backend needs, without bcc: bpf(2) map access
and tracepoint attachment through perf_event_open(2).

The probe is compiled and loaded by a short-lived child (loader.py), which
hands back program and map file descriptors; this module lets the falcolib
process use them with plain ``syscall(2)`` through ctypes, so libbcc and
LLVM are never mapped into it. Attaching is what bcc itself does for a
tracepoint: a perf event of type PERF_TYPE_TRACEPOINT for the tracepoint's
id, on CPU 0 for every process, given the program with
PERF_EVENT_IOC_SET_BPF and enabled; closing that perf event detaches it.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import platform

# syscall numbers by machine (asm-generic numbering for the arm64/riscv family)
_NR = {
    "x86_64": (321, 298),
    "aarch64": (280, 241),
    "riscv64": (280, 241),
    "ppc64le": (361, 319),
    "s390x": (351, 331),
}
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_ANY = 0

PERF_TYPE_TRACEPOINT = 2
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
PERF_ATTR_SIZE = 112                      # PERF_ATTR_SIZE_VER5: every kernel since 4.1
PERF_EVENT_IOC_ENABLE = 0x2400            # _IO('$', 0)
PERF_EVENT_IOC_SET_BPF = 0x40042408       # _IOW('$', 8, __u32)

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_long = ctypes.c_long  # syscall(2) is variadic: every argument a full register


class _MapElemAttr(ctypes.Structure):
    """union bpf_attr, as BPF_MAP_*_ELEM reads it."""
    _fields_ = [("map_fd", ctypes.c_uint32), ("pad", ctypes.c_uint32), ("key", ctypes.c_uint64),
                ("value", ctypes.c_uint64), ("flags", ctypes.c_uint64)]


class _PerfEventAttr(ctypes.Structure):
    """The leading part of struct perf_event_attr (the rest stays zero)."""
    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64),
                ("wakeup_events", ctypes.c_uint32), ("bp_type", ctypes.c_uint32),
                ("rest", ctypes.c_uint8 * (PERF_ATTR_SIZE - 56))]


def _numbers() -> tuple[int, int]:
    machine = platform.machine()
    try:
        return _NR[machine]
    except KeyError:
        raise OSError(f"bpf(2) syscall number unknown on {machine}") from None


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def _map_elem(cmd: int, map_fd: int, key, value, flags: int, what: str) -> None:
    attr = _MapElemAttr(map_fd=map_fd, key=ctypes.addressof(key), value=ctypes.addressof(value),
                        flags=flags)
    _check(_syscall(_long(_numbers()[0]), _long(cmd), ctypes.byref(attr), _long(ctypes.sizeof(attr))), what)


def map_update_u32(map_fd: int, key: int, value: int) -> None:
    """settings[key] = value for an array map of u32."""
    k, v = ctypes.c_uint32(key), ctypes.c_uint32(value)
    _map_elem(BPF_MAP_UPDATE_ELEM, map_fd, k, v, BPF_ANY, "bpf map update")


def percpu_lookup_u64(map_fd: int, key: int, ncpus: int) -> list[int]:
    """The per-CPU u64 values of ``key`` in a per-CPU array (each value padded to 8 bytes,
    one per possible CPU)."""
    k = ctypes.c_uint32(key)
    vals = (ctypes.c_uint64 * ncpus)()
    _map_elem(BPF_MAP_LOOKUP_ELEM, map_fd, k, vals, 0, "bpf map lookup")
    return list(vals)


def tracepoint_id(tracepoint: str) -> int:
    """The id of ``category:name`` in tracefs."""
    cat, _, name = tracepoint.partition(":")
    for root in TRACEFS_ROOTS:
        path = os.path.join(root, "events", cat, name, "id")
        try:
            with open(path) as fh:
                return int(fh.read())
        except FileNotFoundError:
            continue
    raise OSError(f"no tracepoint {tracepoint} in tracefs ({' or '.join(TRACEFS_ROOTS)})")


def attach_tracepoint(prog_fd: int, tracepoint: str) -> int:
    """Run the program at every hit of ``tracepoint``; returns the perf event fd (close it
    to detach)."""
    attr = _PerfEventAttr(type=PERF_TYPE_TRACEPOINT, size=PERF_ATTR_SIZE,
                          config=tracepoint_id(tracepoint), sample_period=1,
                          sample_type=PERF_SAMPLE_RAW, wakeup_events=1)
    fd = _check(_syscall(_long(_numbers()[1]), ctypes.byref(attr), _long(-1), _long(0), _long(-1),
                         _long(PERF_FLAG_FD_CLOEXEC)),
                f"perf_event_open({tracepoint})")
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd)
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError as exc:
        os.close(fd)
        raise OSError(exc.errno, f"attaching to {tracepoint}: {exc.strerror}") from None
    return fd
