"""A simulated kernel module, for tests and benchmarks on hosts without one.

``SimDriver`` lays out, under a directory, what the module exposes: one
file per CPU device (``dev/scapN``) and the module parameters
(``sys/module/scap/parameters/g_buffer_bytes_dim``). A device file holds
the data buffer twice (``2 * size`` bytes: every write lands at ``p`` and
``p + size``, which is what the driver's double mapping shows user space)
followed, at the next page, by ``struct ppm_ring_buffer_info`` in the
layout of the simulated API version. Its devices answer the ioctls as the
driver does (versions, snaplen, event mask, capture switch, syscall and
tracepoint interest) and record every call in ``SimDriver.calls``.

``SimRing.record`` is the driver's ``record_event_consumer`` for one event:
count it in ``n_evts``, compute the free space from head and tail the same
way (one byte always left free; the event must also fit before the end of
the buffer plus its two-page cushion), drop it into ``n_drops_buffer`` if
it does not fit, else write it and publish the new head.

``Producer`` writes the events of a capture into the CPUs' rings from a
thread, in capture order, either dropping what does not fit (as the
driver) or waiting for room.
"""
from __future__ import annotations

import errno
import mmap
import os
import struct
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

from falcolib_kmod import protocol as P
from falcolib_kmod.syscalls import X86_64_SYSCALLS, ALIASES, TRACEPOINT_EVENTS

PAGE = mmap.PAGESIZE
_HT = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
PPME_DROP_E, PPME_DROP_X = 148, 149
LEGACY_EVENT_MAX = 336


def to_ring_event(raw) -> bytes:
    """A RawEvent's bytes as the driver writes them: the 26-byte header.
    Events of old captures (22-byte header, no parameter count) get the
    count the scap reader worked out, inserted after the type."""
    data = raw.data
    if raw.hdr == 26:
        return data
    ts, tid, elen, etype = struct.unpack_from("<QQIH", data, 0)
    return P.EVT_HDR.pack(ts, tid, elen + 4, etype, raw.nparams) + data[22:]


class SimRing:
    """The producer's side of one CPU's buffer."""

    def __init__(self, path: Path, size: int, layout: P.InfoLayout):
        self.size = size
        self.layout = layout
        self.info_offset = 2 * size
        with open(path, "r+b") as fh:
            fh.truncate(0)
            fh.truncate(2 * size + PAGE)
            self.mem = mmap.mmap(fh.fileno(), 2 * size + PAGE)
        self.capture_enabled = False
        self.written = 0
        self.dropped = 0

    def _get(self, off: int) -> int:
        return _U64.unpack_from(self.mem, self.info_offset + off)[0]

    def _bump(self, off: int) -> None:
        at = self.info_offset + off
        _U64.pack_into(self.mem, at, _U64.unpack_from(self.mem, at)[0] + 1)

    def head_tail(self) -> tuple[int, int]:
        return _HT.unpack_from(self.mem, self.info_offset)

    def free(self) -> int:
        head, tail = self.head_tail()
        return tail - head - 1 if tail > head else self.size + tail - head - 1

    def record(self, evt: bytes) -> bool:
        """Write one event as the driver would; False if it was dropped."""
        self._bump(self.layout.N_EVTS)
        head, tail = self.head_tail()
        size = self.size
        freespace = tail - head - 1 if tail > head else size + tail - head - 1
        delta_from_end = size + 2 * PAGE - head - 1
        n = len(evt)
        if n > min(freespace, delta_from_end):
            self._bump(self.layout.N_DROPS_BUFFER)
            self.dropped += 1
            return False
        mem = self.mem
        first = min(n, size - head)
        mem[head:head + first] = evt[:first]
        mem[size + head:size + head + first] = evt[:first]
        if first < n:
            rest = n - first
            mem[0:rest] = evt[first:]
            mem[size:size + rest] = evt[first:]
        nxt = head + n
        if nxt >= size:
            nxt -= size
        _U32.pack_into(mem, self.info_offset, nxt)  # publish: head last
        self.written += 1
        return True

    def record_many(self, evts: Sequence[bytes]) -> list[bytes]:
        """Write several events with one head update (a CPU publishing a
        burst); each is checked against the space left as ``record`` does.
        Returns those written; the others count as buffer drops."""
        head, tail = self.head_tail()
        size = self.size
        free = tail - head - 1 if tail > head else size + tail - head - 1
        chunks = []
        taken = 0
        for evt in evts:
            n = len(evt)
            if n <= free and n <= size + 2 * PAGE - ((head + taken) % size) - 1:
                chunks.append(evt)
                taken += n
                free -= n
        data = b"".join(chunks)
        mem = self.mem
        first = min(taken, size - head)
        mem[head:head + first] = data[:first]
        mem[size + head:size + head + first] = data[:first]
        if first < taken:
            rest = taken - first
            mem[0:rest] = data[first:]
            mem[size:size + rest] = data[first:]
        at = self.info_offset
        _U64.pack_into(mem, at + self.layout.N_EVTS,
                       _U64.unpack_from(mem, at + self.layout.N_EVTS)[0] + len(evts))
        dropped = len(evts) - len(chunks)
        if dropped:
            _U64.pack_into(mem, at + self.layout.N_DROPS_BUFFER,
                           _U64.unpack_from(mem, at + self.layout.N_DROPS_BUFFER)[0] + dropped)
        _U32.pack_into(mem, at, (head + taken) % size)
        self.written += len(chunks)
        self.dropped += dropped
        return chunks

    def count_drop_pf(self) -> None:
        """An event lost to a page fault while copying user memory."""
        self._bump(self.layout.N_EVTS)
        self._bump(self.layout.n_drops_pf)

    def count_preemption(self) -> None:
        self._bump(self.layout.N_EVTS)
        self._bump(self.layout.n_preemptions)

    def close(self) -> None:
        try:
            self.mem.close()
        except BufferError:
            pass


class SimDevice:
    """What ``open('/dev/scapN')`` returns, for the simulated module."""

    def __init__(self, driver: "SimDriver", cpu: int, path: str):
        self.driver = driver
        self.cpu = cpu
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        self.info_offset = 2 * driver.buffer_size

    def fileno(self) -> int:
        return self._fd

    def ioctl(self, request: int, arg: int | bytearray = 0) -> int:
        return self.driver._ioctl(self, request, arg)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.driver._closed(self)


class SimDriver:
    """A kernel module simulated under ``root`` with ``ncpus`` devices.

    ``api`` and ``schema`` are (major, minor, patch); ``offline`` CPUs
    answer ENODEV on open. ``calls`` records (cpu, ioctl name, arg).
    """

    def __init__(self, root: str | os.PathLike, ncpus: int, *, api=(10, 1, 0),
                 schema=(4, 5, 1), buffer_bytes_dim: int = 64 * 1024, offline: Iterable[int] = (),
                 prefix: str = "scap"):
        self.root = Path(root)
        self.ncpus = ncpus
        self.api = P.pack_version(*api)
        self.schema = P.pack_version(*schema)
        self.legacy = api[0] == 1
        self.layout = P.LEGACY_INFO if self.legacy else P.CURRENT_INFO
        self.offline = frozenset(offline)
        self.prefix = prefix
        self.calls: list[tuple[int, str, int | None]] = []
        self.rings: dict[int, SimRing] = {}
        self.snaplen = 80
        self.event_mask = set(range(LEGACY_EVENT_MAX))
        self.syscalls: set[int] = set()
        self.tracepoints: set[int] = set()
        (self.root / "dev").mkdir(parents=True, exist_ok=True)
        for cpu in range(ncpus):
            (self.root / "dev" / f"{prefix}{cpu}").touch()
        if not self.legacy:
            params = self.root / "sys/module" / prefix / "parameters"
            params.mkdir(parents=True, exist_ok=True)
            (params / "g_buffer_bytes_dim").write_text(f"{buffer_bytes_dim}\n")
        self._lock = threading.Lock()
        self._wanted: list[bool] | None = None

    # -- what the consumer sees ---------------------------------------
    @property
    def devices_glob(self) -> str:
        return str(self.root / "dev" / f"{self.prefix}*")

    @property
    def buffer_size(self) -> int:
        if self.legacy:
            return P.LEGACY_RING_BUF_SIZE
        return int((self.root / "sys/module" / self.prefix / "parameters"
                    / "g_buffer_bytes_dim").read_text())

    def module_param(self, module: str, name: str) -> str:
        return str(self.root / "sys/module" / module / "parameters" / name)

    def open_device(self, path: str) -> SimDevice:
        cpu = int(path[len(str(self.root / "dev" / self.prefix)):])
        if cpu in self.offline:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV), path)
        with self._lock:
            if cpu in self.rings:
                raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), path)
            # ppm_open: a fresh buffer of the current size, all counters zero,
            # every event type wanted
            self.rings[cpu] = SimRing(Path(path), self.buffer_size, self.layout)
            self.event_mask = set(range(LEGACY_EVENT_MAX))
            self._wanted = None
            self.calls.append((cpu, "open", None))
        return SimDevice(self, cpu, path)

    def _closed(self, dev: SimDevice) -> None:
        # ppm_release: the ring goes with the last close
        with self._lock:
            self.calls.append((dev.cpu, "close", None))
            ring = self.rings.pop(dev.cpu, None)
        if ring is not None:
            ring.close()

    def _ioctl(self, dev: SimDevice, request: int, arg) -> int:
        name = P.IOCTL_NAMES.get(request)
        self._wanted = None
        self.calls.append((dev.cpu, name or hex(request), arg if isinstance(arg, int) else None))
        legacy_only = {P.ENABLE_CAPTURE, P.DISABLE_CAPTURE, P.MASK_ZERO_EVENTS,
                       P.MASK_SET_EVENT, P.MASK_UNSET_EVENT}
        current_only = {P.ENABLE_SYSCALL, P.DISABLE_SYSCALL, P.ENABLE_TP, P.DISABLE_TP}
        if name is None or (request in legacy_only and not self.legacy) \
                or (request in current_only and self.legacy):
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        if request in (P.GET_API_VERSION, P.GET_SCHEMA_VERSION):
            value = self.api if request == P.GET_API_VERSION else self.schema
            arg[:8] = value.to_bytes(8, "little")
        elif request == P.SET_SNAPLEN:
            if arg > P.RW_MAX_SNAPLEN:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            self.snaplen = arg
        elif request == P.ENABLE_CAPTURE:
            self.rings[dev.cpu].capture_enabled = True
        elif request == P.DISABLE_CAPTURE:
            self.rings[dev.cpu].capture_enabled = False
        elif request == P.MASK_ZERO_EVENTS:
            self.event_mask = {PPME_DROP_E, PPME_DROP_X}
        elif request in (P.MASK_SET_EVENT, P.MASK_UNSET_EVENT, P.ENABLE_SYSCALL,
                         P.DISABLE_SYSCALL, P.ENABLE_TP, P.DISABLE_TP):
            limit = {P.MASK_SET_EVENT: LEGACY_EVENT_MAX, P.MASK_UNSET_EVENT: LEGACY_EVENT_MAX,
                     P.ENABLE_SYSCALL: P.SYSCALL_TABLE_SIZE, P.DISABLE_SYSCALL: P.SYSCALL_TABLE_SIZE
                     }.get(request, len(P.TRACEPOINTS))
            if not 0 <= arg < limit:
                raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
            target = {P.MASK_SET_EVENT: self.event_mask, P.MASK_UNSET_EVENT: self.event_mask,
                      P.ENABLE_SYSCALL: self.syscalls, P.DISABLE_SYSCALL: self.syscalls
                      }.get(request, self.tracepoints)
            if request in (P.MASK_SET_EVENT, P.ENABLE_SYSCALL, P.ENABLE_TP):
                target.add(arg)
            else:
                target.discard(arg)
        return 0

    # -- what the kernel would do ---------------------------------------
    def wants(self, etype: int) -> bool:
        """Would the driver record an event of this type now?"""
        table = self._wanted
        if table is None:
            table = self._wanted = self._wanted_table()
        return etype < len(table) and table[etype]

    def _wanted_table(self) -> list[bool]:
        from falcolib.decode.table import EVENTS

        if self.legacy:
            return [t in self.event_mask for t in range(len(EVENTS))]
        out = []
        for info in EVENTS:
            tps = TRACEPOINT_EVENTS.get(info.name)
            if tps is not None:
                out.append(any(tp in self.tracepoints for tp in tps))
                continue
            nr = X86_64_SYSCALLS.get(ALIASES.get(info.name, info.name))
            # not a syscall of this ABI: such events come with sys_enter/exit
            out.append(P.TP_SYS_EXIT in self.tracepoints and (nr is None or nr in self.syscalls))
        return out

    def capturing(self, cpu: int) -> bool:
        ring = self.rings.get(cpu)
        if ring is None:
            return False
        return ring.capture_enabled if self.legacy else bool(self.tracepoints)

    def close(self) -> None:
        for ring in self.rings.values():
            ring.close()
        self.rings.clear()


class Producer(threading.Thread):
    """Writes ``events`` [(cpu, bytes, type)] into the driver's rings in order.

    ``policy`` "drop" records like the driver (what does not fit is
    counted as dropped); "wait" waits for the consumer to make room.
    ``pause_every`` (events) and ``pause`` (seconds) make bursts.
    ``batch`` > 1 publishes each CPU's share of every ``batch`` events with
    one head update (cheaper; CPUs then publish out of timestamp order, as
    real ones may, so only counts are exact, not the merged order).
    ``written`` lists the (cpu, bytes) the rings received, in order;
    ``dropped[cpu]`` counts what each ring dropped; events the driver would
    not record (masked, capture off) are ``skipped``.
    """

    def __init__(self, driver: SimDriver, events: Sequence[tuple[int, bytes, int]], *,
                 policy: str = "wait", pause_every: int = 0, pause: float = 0.0,
                 timeout: float = 30.0, batch: int = 1):
        super().__init__(daemon=True, name="kmod-sim-producer")
        self.driver = driver
        self.events = events
        self.policy = policy
        self.pause_every = pause_every
        self.pause = pause
        self.timeout = timeout
        self.batch = batch
        self.written: list[tuple[int, bytes]] = []
        self.dropped: dict[int, int] = {}
        self.skipped = 0
        self.error: BaseException | None = None
        self._bursts: list | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # reported to the test through .error
            self.error = exc

    def _run(self) -> None:
        if self.batch > 1:
            return self._run_batches()
        drv = self.driver
        deadline = time.monotonic() + self.timeout
        for i, (cpu, evt, etype) in enumerate(self.events):
            if self.pause_every and i and i % self.pause_every == 0:
                time.sleep(self.pause)
            if not drv.capturing(cpu) or not drv.wants(etype):
                self.skipped += 1
                continue
            ring = drv.rings[cpu]
            if self.policy == "wait":
                while ring.free() < len(evt):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the consumer did not make room in time")
                    time.sleep(0.0002)
            if ring.record(evt):
                self.written.append((cpu, evt))
            else:
                self.dropped[cpu] = self.dropped.get(cpu, 0) + 1

    def prepare(self) -> None:
        """Split the events into per-CPU bursts now (batch mode), filtered by
        what the driver wants at this moment, so that writing costs less."""
        drv = self.driver
        self._bursts = []
        events = self.events
        for start in range(0, len(events), self.batch):
            per_cpu: dict[int, list[bytes]] = {}
            for cpu, evt, etype in events[start:start + self.batch]:
                if not drv.capturing(cpu) or not drv.wants(etype):
                    self.skipped += 1
                    continue
                per_cpu.setdefault(cpu, []).append(evt)
            self._bursts.append([(cpu, evts, sum(map(len, evts))) for cpu, evts in per_cpu.items()])

    def _run_batches(self) -> None:
        if self._bursts is None:
            self.prepare()
        rings = self.driver.rings
        deadline = time.monotonic() + self.timeout
        wait = self.policy == "wait"
        for bursts in self._bursts:
            for cpu, evts, need in bursts:
                ring = rings[cpu]
                if wait:
                    while ring.free() < need:
                        if time.monotonic() > deadline:
                            raise TimeoutError("the consumer did not make room in time")
                        time.sleep(0.0002)
                done = ring.record_many(evts)
                self.written.extend((cpu, e) for e in done)
                if len(done) < len(evts):
                    self.dropped[cpu] = self.dropped.get(cpu, 0) + len(evts) - len(done)


def spread_events(raws: Iterable, ncpus: int, seed: int = 0,
                  mean_run: float = 1.0) -> list[tuple[int, bytes, int]]:
    """Assign the events of a capture to ``ncpus`` CPUs, pseudo-randomly,
    as (cpu, ring bytes, type). Within a run of equal timestamps the CPU
    never decreases, so merging by timestamp (ties: lower CPU first, as
    libscap) gives back the capture's order whenever its timestamps never
    decrease. With ``mean_run`` > 1, a new timestamp moves to a random CPU
    only with probability 1/mean_run (real multi-CPU captures show runs of
    6 to 200 events on one CPU)."""
    import random

    rnd = random.Random(seed)
    out = []
    last_ts = None
    cpu = 0
    for raw in raws:
        if raw.ts != last_ts:
            if mean_run <= 1 or rnd.random() * mean_run < 1:
                cpu = rnd.randrange(ncpus)
        elif rnd.random() < 0.3:
            cpu = rnd.randrange(cpu, ncpus)
        last_ts = raw.ts
        out.append((cpu, to_ring_event(raw), raw.type))
    return out

