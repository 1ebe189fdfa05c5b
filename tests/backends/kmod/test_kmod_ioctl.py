"""The ioctl layer and the open/close sequence, against devices that record calls."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from falcolib.decode.table import types_named
from falcolib.errors import BackendUnavailable
from falcolib_kmod import KmodBackend
from falcolib_kmod import protocol as P
from falcolib_kmod.ioctl import DriverControl, DriverError
from falcolib_kmod.sim import SimDriver
from falcolib_kmod.syscalls import X86_64_SYSCALLS


class FakeDevice:
    """Records (request name, arg); answers the version ioctls; fails what it is told to."""

    info_offset = 0

    def __init__(self, path="/dev/scap0", api=(10, 1, 0), fail=()):
        self.path = path
        self.api = P.pack_version(*api)
        self.fail = set(fail)
        self.calls: list[tuple[str, object]] = []

    def fileno(self):
        return -1

    def ioctl(self, request, arg=0):
        name = P.IOCTL_NAMES[request]
        self.calls.append((name, arg if isinstance(arg, int) else "buf"))
        if name in self.fail:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        if request == P.GET_API_VERSION:
            arg[:8] = self.api.to_bytes(8, "little")
        return 0

    def close(self):
        pass


def _control(devs, api):
    ctl = DriverControl(devs)
    ctl.protocol = P.protocol_for(P.pack_version(*api), 0)
    return ctl


class TestLegacyIoctls:
    """API 1: capture switched per device, event mask by type on the first device."""

    def test_start_stop_every_device(self):
        devs = [FakeDevice(f"/dev/scap{i}", (1, 0, 0)) for i in range(3)]
        ctl = _control(devs, (1, 0, 0))
        ctl.start()
        ctl.stop()
        for d in devs:
            assert d.calls == [("ENABLE_CAPTURE", 0), ("DISABLE_CAPTURE", 0)]

    def test_event_mask(self):
        devs = [FakeDevice(f"/dev/scap{i}", (1, 0, 0)) for i in range(2)]
        ctl = _control(devs, (1, 0, 0))
        wanted = types_named("open") | types_named("execve")
        ctl.set_event_types(wanted)
        assert devs[0].calls[0] == ("MASK_ZERO_EVENTS", 0)
        assert devs[0].calls[1:] == [("MASK_SET_EVENT", t) for t in sorted(wanted) if t < 336]
        assert devs[1].calls == []

    def test_no_mask_when_every_type_is_wanted(self):
        dev = FakeDevice(api=(1, 0, 0))
        _control([dev], (1, 0, 0)).set_event_types(None)
        assert dev.calls == []


class TestCurrentIoctls:
    """API 10: every syscall cleared, the wanted ones enabled, tracepoints attached."""

    def test_start_with_types(self):
        dev = FakeDevice()
        ctl = _control([dev], (10, 1, 0))
        ctl.start(types_named("execve") | types_named("openat") | types_named("procexit"))
        cleared = dev.calls[:P.SYSCALL_TABLE_SIZE]
        assert cleared == [("DISABLE_SYSCALL", n) for n in range(P.SYSCALL_TABLE_SIZE)]
        rest = dev.calls[P.SYSCALL_TABLE_SIZE:]
        enabled = {a for name, a in rest if name == "ENABLE_SYSCALL"}
        assert enabled == {X86_64_SYSCALLS["execve"], X86_64_SYSCALLS["openat"]}
        tps = {a for name, a in rest if name == "ENABLE_TP"}
        assert tps == {P.TP_SYS_ENTER, P.TP_SYS_EXIT, P.TP_SCHED_PROC_EXIT, P.TP_SCHED_PROC_EXEC}
        assert {a for name, a in rest if name == "DISABLE_TP"} == set(P.TRACEPOINTS) - tps

    def test_stop_detaches_everything(self):
        dev = FakeDevice()
        _control([dev], (10, 1, 0)).stop()
        assert {a for n, a in dev.calls if n == "DISABLE_SYSCALL"} == set(range(512))
        assert {a for n, a in dev.calls if n == "DISABLE_TP"} == set(P.TRACEPOINTS)
        assert not any(n.startswith("ENABLE") for n, _ in dev.calls)

    def test_generic_events_enable_every_syscall(self):
        dev = FakeDevice()
        _control([dev], (10, 1, 0)).start(types_named("syscall"))
        enabled = {a for n, a in dev.calls if n == "ENABLE_SYSCALL"}
        assert enabled == set(range(P.SYSCALL_TABLE_SIZE))


class TestInterest:
    """Every syscall event of the table maps to a syscall of the x86_64 ABI."""

    def test_syscall_events_map(self):
        from falcolib.decode.table import EVENTS
        from falcolib_kmod.syscalls import interest_for

        # the events the driver makes from sys_enter/sys_exit carry EC_SYSCALL (and are not
        # the generic one); each must enable its own syscall
        unmapped = []
        for code, info in enumerate(EVENTS):
            if info.category & 512 and info.name not in ("syscall", "NA"):  # EC_SYSCALL
                sys_ids, _ = interest_for(frozenset({code}))
                if not sys_ids:
                    unmapped.append(info.name)
        assert unmapped == []


class TestIoctlErrors:
    """A refused ioctl or a bad value is a DriverError naming it."""

    def test_refused(self):
        dev = FakeDevice(fail={"SET_SNAPLEN"})
        with pytest.raises(DriverError, match="SET_SNAPLEN.*Invalid argument"):
            _control([dev], (10, 1, 0)).set_snaplen(100)

    def test_snaplen_range(self):
        dev = FakeDevice()
        with pytest.raises(DriverError, match="65000"):
            _control([dev], (10, 1, 0)).set_snaplen(70000)
        assert dev.calls == []

    def test_version_read(self):
        dev = FakeDevice(api=(1, 0, 0))
        assert DriverControl([dev]).api_version(dev) == 1 << 44


def _sequence(drv: SimDriver):
    return [(cpu, name) for cpu, name, _ in drv.calls if name not in (
        "DISABLE_SYSCALL", "ENABLE_SYSCALL", "ENABLE_TP", "DISABLE_TP", "MASK_SET_EVENT")]


class TestOpenSequence:
    """Opening follows libscap: per device open, API and schema versions; then snaplen, mask, start."""

    def test_legacy(self, tmp_path):
        drv = SimDriver(tmp_path, 2, api=(1, 0, 0), schema=(1, 0, 0))
        with KmodBackend(types=types_named("open"), devices_glob=drv.devices_glob,
                         snaplen=256, driver=drv) as b:
            assert b.protocol.legacy
            assert drv.snaplen == 256
            assert drv.event_mask == types_named("open") | {148, 149}
        assert _sequence(drv) == [
            (0, "open"), (1, "open"),
            (0, "GET_API_VERSION"), (0, "GET_SCHEMA_VERSION"),
            (1, "GET_API_VERSION"), (1, "GET_SCHEMA_VERSION"),
            (0, "SET_SNAPLEN"), (0, "MASK_ZERO_EVENTS"),
            (0, "ENABLE_CAPTURE"), (1, "ENABLE_CAPTURE"),
            (0, "DISABLE_CAPTURE"), (1, "DISABLE_CAPTURE"),
            (0, "close"), (1, "close")]
        drv.close()

    def test_current_sets_buffer_size_before_opening(self, tmp_path):
        drv = SimDriver(tmp_path, 2, buffer_bytes_dim=64 * 1024)
        with KmodBackend(devices_glob=drv.devices_glob, buffer_bytes_dim=32 * 1024, driver=drv):
            assert drv.buffer_size == 32 * 1024
            assert all(r.size == 32 * 1024 for r in drv.rings.values())
            assert P.TP_SYS_EXIT in drv.tracepoints and len(drv.syscalls) == 512
        assert drv.tracepoints == set() and drv.syscalls == set()
        drv.close()

    def test_offline_cpu_is_skipped(self, tmp_path):
        drv = SimDriver(tmp_path, 3, offline={1})
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            assert [cpu for cpu, _ in b.per_cpu()] == [0, 2]
        drv.close()


class TestUnavailable:
    """Whatever stops the backend from running is a one-line BackendUnavailable."""

    def test_this_machine_has_no_module(self):
        if Path("/dev/scap0").exists():
            pytest.skip("a kernel module is loaded here")
        with pytest.raises(BackendUnavailable) as info:
            KmodBackend().__enter__()
        text = str(info.value)
        assert "/dev/scap0" in text and "falcosecurity-scap-dkms" in text
        assert "\n" not in text

    def test_incompatible_api(self, tmp_path):
        drv = SimDriver(tmp_path, 1, api=(8, 0, 4), schema=(4, 0, 1))
        with pytest.raises(BackendUnavailable, match=r"API version 8\.0\.4.*1\.x and 10\.x"):
            KmodBackend(devices_glob=drv.devices_glob, driver=drv).__enter__()
        assert (0, "close", None) in drv.calls
        drv.close()

    def test_busy_device(self, tmp_path):
        drv = SimDriver(tmp_path, 1)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv):
            with pytest.raises(BackendUnavailable, match="too many consumers"):
                KmodBackend(devices_glob=drv.devices_glob, driver=drv).__enter__()
        drv.close()

    def test_bad_buffer_size(self, tmp_path):
        drv = SimDriver(tmp_path, 1)
        with pytest.raises(BackendUnavailable, match="power of 2"):
            KmodBackend(devices_glob=drv.devices_glob, driver=drv,
                        buffer_bytes_dim=100000).__enter__()


class TestSnapshot:
    """The host state comes from the ebpf backend's /proc scan, taken once."""

    def test_host_processes(self, tmp_path):
        pytest.importorskip("falcolib_ebpf.procscan")
        drv = SimDriver(tmp_path, 1)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            snap = b.snapshot()
            assert b.snapshot() is snap
        me = [p for p in snap.processes if p.tid == os.getpid()]
        comm = open(f"/proc/{os.getpid()}/comm").read().strip()  # "pytest" under tox
        assert me and me[0].pid == os.getpid() and me[0].comm == comm
        drv.close()


class TestKernelDevice:
    """The real device layer (os.open, fcntl.ioctl) refuses what is not the driver's device."""

    def test_plain_file_is_not_a_driver(self, tmp_path):
        for cpu in range(2):
            (tmp_path / f"scap{cpu}").write_bytes(b"\0" * 4096)
        with pytest.raises(BackendUnavailable, match=r"GET_API_VERSION.*scap0.*predates"):
            KmodBackend(devices_glob=str(tmp_path / "scap*")).__enter__()

    def test_unreadable_device(self, tmp_path):
        (tmp_path / "falco0").mkdir()   # opening a directory read-write fails (EISDIR)
        with pytest.raises(BackendUnavailable, match="cannot open .*falco0"):
            KmodBackend(devices_glob=str(tmp_path / "falco*")).__enter__()
