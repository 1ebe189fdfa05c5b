"""Opening the per-CPU devices and talking to the driver through ioctls.

A *device* is one opened ``/dev/scapN``: it has ``fileno()``, an
``ioctl(request, arg)`` and an ``info_offset`` (where its info struct is
mapped: 0 on the real driver, which tells the two mappings apart by
length). ``KernelDevice`` is the real thing over ``os`` and
``fcntl.ioctl``; the simulator (``falcolib_kmod.sim``) supplies devices
backed by files whose ioctls it records and answers.

``DriverControl`` is the ioctl layer: one method per thing libscap asks
the driver, sent in the order libscap sends it, for either protocol
generation.
"""
from __future__ import annotations

import errno
import fcntl
import os
from typing import Protocol as _Protocol, Sequence

from falcolib_kmod import protocol as P
from falcolib_kmod.syscalls import interest_for


class Device(_Protocol):
    path: str
    info_offset: int

    def fileno(self) -> int: ...
    def ioctl(self, request: int, arg: int | bytearray = 0) -> int: ...
    def close(self) -> None: ...


class KernelDevice:
    """A per-CPU device node of the loaded kernel module."""

    info_offset = 0

    def __init__(self, path: str):
        self.path = path
        # libscap: open(O_RDWR | O_SYNC) then FD_CLOEXEC
        self._fd = os.open(path, os.O_RDWR | os.O_SYNC | os.O_CLOEXEC)

    def fileno(self) -> int:
        return self._fd

    def ioctl(self, request: int, arg: int | bytearray = 0) -> int:
        if isinstance(arg, bytearray):
            return fcntl.ioctl(self._fd, request, arg, True)
        return fcntl.ioctl(self._fd, request, arg)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class KernelDriver:
    """Opens real device nodes and module parameters under ``root``."""

    def __init__(self, root: str = "/"):
        self.root = root

    def open_device(self, path: str) -> Device:
        return KernelDevice(path)

    def module_param(self, module: str, name: str) -> str:
        return os.path.join(self.root, "sys/module", module, "parameters", name)


class DriverError(Exception):
    """An ioctl the protocol needs was refused; ``str`` says which and why."""


class DriverControl:
    """The ioctls of a capture session over the opened devices."""

    def __init__(self, devices: Sequence[Device], protocol: P.Protocol | None = None):
        self.devices = list(devices)
        self.protocol = protocol

    def _call(self, dev: Device, request: int, arg: int | bytearray = 0) -> int:
        try:
            return dev.ioctl(request, arg)
        except OSError as exc:
            name = P.IOCTL_NAMES.get(request, hex(request))
            raise DriverError(f"ioctl {name}({arg if isinstance(arg, int) else ''}) on "
                              f"{dev.path} failed: {os.strerror(exc.errno or errno.EIO)}") from None

    def _read_u64(self, dev: Device, request: int) -> int:
        buf = bytearray(8)
        self._call(dev, request, buf)
        return int.from_bytes(buf, "little")

    def api_version(self, dev: Device) -> int:
        return self._read_u64(dev, P.GET_API_VERSION)

    def schema_version(self, dev: Device) -> int:
        return self._read_u64(dev, P.GET_SCHEMA_VERSION)

    def set_snaplen(self, snaplen: int) -> None:
        if not 0 <= snaplen <= P.RW_MAX_SNAPLEN:
            raise DriverError(f"snaplen {snaplen} is out of range: the driver accepts "
                              f"0..{P.RW_MAX_SNAPLEN}")
        self._call(self.devices[0], P.SET_SNAPLEN, snaplen)

    def set_event_types(self, types: frozenset[int] | None) -> None:
        """Narrow what the driver sends (API 1: the event mask). For API 10
        the interest is applied by ``start`` (libscap enforces it there)."""
        if not self.protocol.legacy or types is None:
            return
        dev = self.devices[0]
        self._call(dev, P.MASK_ZERO_EVENTS, 0)
        for t in sorted(types):
            if 0 <= t < 336:  # PPM_EVENT_MAX of the legacy driver; it rejects others
                self._call(dev, P.MASK_SET_EVENT, t)

    def start(self, types: frozenset[int] | None = None) -> None:
        if self.protocol.legacy:
            for dev in self.devices:
                self._call(dev, P.ENABLE_CAPTURE)
            return
        dev = self.devices[0]
        # libscap scap_kmod_start_capture: clear every syscall, then enforce the set
        for nr in range(P.SYSCALL_TABLE_SIZE):
            self._call(dev, P.DISABLE_SYSCALL, nr)
        self._enforce(*interest_for(types))

    def stop(self) -> None:
        if self.protocol.legacy:
            for dev in self.devices:
                self._call(dev, P.DISABLE_CAPTURE)
            return
        self._enforce(frozenset(), frozenset())

    def _enforce(self, sys_ids: frozenset[int], tps: frozenset[int]) -> None:
        dev = self.devices[0]
        for nr in range(P.SYSCALL_TABLE_SIZE):
            self._call(dev, P.ENABLE_SYSCALL if nr in sys_ids else P.DISABLE_SYSCALL, nr)
        for tp in P.TRACEPOINTS:
            self._call(dev, P.ENABLE_TP if tp in tps else P.DISABLE_TP, tp)
