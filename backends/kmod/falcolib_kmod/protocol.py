"""The kernel module's user-space protocol, as numbers and layouts.

Facts from the driver sources (falcosecurity/libs ``driver/``): the ioctl
codes of ``ppm_events_public.h``, the version packing of
``ppm_api_version.h``, the ``struct ppm_ring_buffer_info`` layouts of
``ppm_ringbuffer.h`` across API versions, and the mmap rules of
``main.c`` (``ppm_mmap``: at offset 0, a length of twice the buffer size
maps the data buffer twice back to back, read-only; a length of at most
one page maps the info struct, read-write).

Two protocol generations are supported:

* API 1.x ("legacy", Debian's scap-dkms 0.1.1dev+git20220316.e5c53d64 and
  the 1.0.0/2.0.0+driver releases): fixed 8 MiB buffers, capture switched
  per device with ENABLE/DISABLE_CAPTURE, event mask by event type code
  (MASK_ZERO_EVENTS / MASK_SET_EVENT).
* API 10.x (current libs): buffer size from the ``g_buffer_bytes_dim``
  module parameter, interest expressed as native syscall ids
  (ENABLE/DISABLE_SYSCALL) and attached tracepoints (ENABLE/DISABLE_TP).

Any other major is refused: its ioctls or info struct differ. (The info
struct grew per-category drop counters in July 2022 while the API was still
1.0.0, but no release shipped that: the 2.0.0+driver release has the small
struct; API 2.0.0 through 8.0.3 have 17 or 19 counters, 8.0.4 onwards 15.)
"""
from __future__ import annotations

import struct

import attrs

# --- ioctl codes: _IO('s', n) = (ord('s') << 8) | n (no size, no direction)
IOCTL_MAGIC = ord("s")


def _io(nr: int) -> int:
    return (IOCTL_MAGIC << 8) | nr


DISABLE_CAPTURE = _io(0)        # API 1 only
ENABLE_CAPTURE = _io(1)         # API 1 only
DISABLE_DROPPING_MODE = _io(2)
ENABLE_DROPPING_MODE = _io(3)
SET_SNAPLEN = _io(4)
MASK_ZERO_EVENTS = _io(5)       # API 1 only
MASK_SET_EVENT = _io(6)         # API 1 only
MASK_UNSET_EVENT = _io(7)       # API 1 only
GET_DRIVER_VERSION = _io(21)
GET_API_VERSION = _io(24)
GET_SCHEMA_VERSION = _io(25)
ENABLE_SYSCALL = _io(29)        # API >= 3
DISABLE_SYSCALL = _io(30)       # API >= 3
ENABLE_TP = _io(31)             # API >= 3
DISABLE_TP = _io(32)            # API >= 3

IOCTL_NAMES = {
    value: name for name, value in dict(globals()).items()
    if name.isupper() and isinstance(value, int) and (value >> 8) == IOCTL_MAGIC
}

# driver/ppm_tp.h (current): the kmod_prog_codes, in order
TP_SYS_ENTER, TP_SYS_EXIT, TP_SCHED_PROC_EXIT, TP_SCHED_SWITCH, TP_PAGE_FAULT_USER, \
    TP_PAGE_FAULT_KERNEL, TP_SIGNAL_DELIVER, TP_SCHED_PROC_FORK, TP_SCHED_PROC_EXEC = range(9)
TRACEPOINTS = tuple(range(9))

SYSCALL_TABLE_SIZE = 512        # ppm_events_public.h
LEGACY_RING_BUF_SIZE = 8 * 1024 * 1024   # ppm_ringbuffer.h, API 1
DEFAULT_BUFFER_BYTES_DIM = 8 * 1024 * 1024
RW_MAX_SNAPLEN = 65000  # PPM_MAX_ARG_SIZE: the driver rejects a larger snaplen

# Device name prefixes, newest first (DRIVER_DEVICE_NAME across releases)
DEVICE_PREFIXES = ("scap", "falco", "sysdig")

INSTALL_HINT = (
    "install and load Falco's kernel module: on Debian/Ubuntu "
    "`apt-get install falcosecurity-scap-dkms && modprobe scap`, or "
    "`falcoctl driver config --type kmod && falcoctl driver install`; "
    "hosts whose kernel cannot load modules need the ebpf backend instead"
)

# The ring-buffer event header: ts u64, tid u64, len u32, type u16, nparams u32
EVT_HDR = struct.Struct("<QQIHI")
EVT_HDR_LEN = EVT_HDR.size  # 26


# --- versions (ppm_api_version.h): major bits 44-62, minor 24-43, patch 0-23
def pack_version(major: int, minor: int, patch: int) -> int:
    return ((major & ((1 << 19) - 1)) << 44) | ((minor & ((1 << 20) - 1)) << 24) \
        | (patch & ((1 << 24) - 1))


def unpack_version(value: int) -> tuple[int, int, int]:
    return (value >> 44) & ((1 << 19) - 1), (value >> 24) & ((1 << 20) - 1), value & ((1 << 24) - 1)


def version_text(value: int) -> str:
    return ".".join(str(p) for p in unpack_version(value))


@attrs.frozen
class InfoLayout:
    """Where the counters sit in ``struct ppm_ring_buffer_info``.

    head (u32) at 0, tail (u32) at 4, n_evts (u64) at 8, n_drops_buffer
    (u64) at 16 in every version; the per-category drop counters added in
    2022 and trimmed in 2025 shift the last three: n_drops_pf,
    n_preemptions, n_context_switches, always the final u64s.
    """

    n_u64: int  # u64 fields after head and tail

    @property
    def size(self) -> int:
        return 8 + 8 * self.n_u64

    @property
    def n_drops_pf(self) -> int:
        return self.size - 24

    @property
    def n_preemptions(self) -> int:
        return self.size - 16

    @property
    def n_context_switches(self) -> int:
        return self.size - 8

    HEAD = 0
    TAIL = 4
    N_EVTS = 8
    N_DROPS_BUFFER = 16


LEGACY_INFO = InfoLayout(5)    # API 1.x: n_evts, n_drops_buffer, n_drops_pf, n_preemptions, n_cs
CURRENT_INFO = InfoLayout(15)  # API >= 8.0.4: + 10 per-category buffer-drop counters


@attrs.frozen
class Protocol:
    """What a driver of a given API version expects from its consumer."""

    api_version: int
    schema_version: int
    legacy: bool             # API 1.x ioctls and fixed buffer size
    info: InfoLayout

    @property
    def major(self) -> int:
        return unpack_version(self.api_version)[0]


SUPPORTED_MAJORS = (1, 10)


class IncompatibleDriver(Exception):
    """Raised by ``protocol_for``; the backend turns it into BackendUnavailable."""


def protocol_for(api_version: int, schema_version: int) -> Protocol:
    """The protocol to speak with a driver reporting these versions, or
    IncompatibleDriver naming what was found and what is supported."""
    major = unpack_version(api_version)[0]
    if major == 1:
        return Protocol(api_version, schema_version, True, LEGACY_INFO)
    if major == 10:
        return Protocol(api_version, schema_version, False, CURRENT_INFO)
    raise IncompatibleDriver(
        f"kernel module API version {version_text(api_version)} (schema "
        f"{version_text(schema_version)}) is not supported: falcolib speaks API "
        + " and ".join(f"{m}.x" for m in SUPPORTED_MAJORS)
    )


def valid_buffer_bytes_dim(dim: int, page_size: int) -> bool:
    """ppm_ringbuffer.h validate_buffer_bytes_dim: > 2 pages, page multiple, power of 2."""
    return dim > 2 * page_size and dim % page_size == 0 and dim & (dim - 1) == 0
