"""The consumer against a simulated driver fed with the shared captures.

A producer thread writes each capture's events into per-CPU ring buffers
laid out as the driver lays them out, while the backend consumes them.
"""
from __future__ import annotations

import struct
import threading
from pathlib import Path

import pytest

from falcolib.decode.table import types_named
from falcolib_scap import ScapBackend
from falcolib_kmod import KmodBackend
from falcolib_kmod.sim import Producer, SimDriver, spread_events, to_ring_event

REPO = Path(__file__).resolve().parents[3]
CAPTURES = sorted((REPO / ".." / "shared" / "captures").resolve().glob("*.scap"))
pytestmark = pytest.mark.skipif(not CAPTURES, reason="shared captures not found")


def _raws(path):
    with ScapBackend(path) as backend:
        return list(backend)


def _key(raw):
    """What must survive the trip: header fields and every parameter byte."""
    return raw.ts, raw.tid, raw.type, raw.nparams, bytes(raw.data[raw.hdr:])


def _monotonic(raws):
    return all(a.ts <= b.ts for a, b in zip(raws, raws[1:]))


def consume(backend, producer) -> list:
    """Run the producer while iterating the backend; stop once it is done."""
    def watch():
        producer.join()
        backend.stop()

    producer.start()
    threading.Thread(target=watch, daemon=True).start()
    out = [e for e in backend if e is not None]
    assert producer.error is None, producer.error
    return out


class TestSameEventsAsScap:
    """Spread over CPUs and read back through the rings, a capture comes out as replayed."""

    @pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
    def test_capture(self, path, tmp_path):
        raws = _raws(path)
        ncpus = 4 if _monotonic(raws) else 1
        drv = SimDriver(tmp_path, ncpus, buffer_bytes_dim=16 * 1024)
        events = spread_events(raws, ncpus, seed=len(raws))
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            out = consume(b, Producer(drv, events, pause_every=97, pause=0.0005))
            stats = b.stats()
        assert [_key(e) for e in out] == [_key(r) for r in raws]
        assert [e.cpu for e in out] == [cpu for cpu, _, _ in events]
        assert [e.num for e in out] == list(range(1, len(raws) + 1))
        assert stats.events_read == len(raws) and stats.dropped == 0
        assert stats.extra["n_evts"] == len(raws)
        drv.close()

    def test_wraps_the_buffer(self, tmp_path):
        """A capture many times the buffer size passes through intact."""
        raws = _raws(max(CAPTURES, key=lambda p: sum(r.size for r in _raws(p))))
        assert sum(r.size for r in raws) > 8 * 16 * 1024
        drv = SimDriver(tmp_path, 2, buffer_bytes_dim=16 * 1024)
        events = [(0, to_ring_event(r), r.type) for r in raws]
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv, empty_threshold=0) as b:
            out = consume(b, Producer(drv, events))
        assert [_key(e) for e in out] == [_key(r) for r in raws]
        drv.close()

    def test_old_header_events_gain_nparams(self):
        """22-byte-header events get the parameter count the scap reader computed."""
        old = next(p for p in CAPTURES if _raws(p)[0].hdr == 22)
        raw = _raws(old)[5]
        data = to_ring_event(raw)
        ts, tid, elen, etype, nparams = struct.unpack_from("<QQIHI", data)
        assert (ts, tid, etype, nparams) == (raw.ts, raw.tid, raw.type, raw.nparams)
        assert elen == len(data) == raw.size + 4


class TestDrops:
    """The backend reports exactly the drops the driver counted, and yields exactly what was written."""

    def test_full_buffers_before_reading(self, tmp_path):
        raws = max((_raws(p) for p in CAPTURES), key=lambda rs: _monotonic(rs) * len(rs))
        drv = SimDriver(tmp_path, 3, buffer_bytes_dim=16 * 1024)
        events = spread_events(raws, 3, seed=7)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            prod = Producer(drv, events, policy="drop")
            prod.run()           # everything offered before the consumer reads
            b.stop()
            out = [e for e in b if e is not None]
            stats = b.stats()
        assert sum(prod.dropped.values()) > 0
        assert [e.data for e in out] == [data for _, data in prod.written]
        assert stats.dropped_kernel == sum(prod.dropped.values())
        assert stats.per_cpu_drops == {cpu: prod.dropped.get(cpu, 0) for cpu in range(3)}
        assert stats.extra["n_evts"] == len(events)
        assert stats.extra["n_drops_buffer"] == stats.dropped_kernel
        drv.close()

    def test_drops_while_consuming(self, tmp_path):
        path = max(CAPTURES, key=lambda p: len(_raws(p)))
        raws = _raws(path) * 2  # on one CPU: order is the writing order
        drv = SimDriver(tmp_path, 2, buffer_bytes_dim=16 * 1024)
        events = spread_events(raws, 1, seed=3)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            prod = Producer(drv, events, policy="drop", pause_every=400, pause=0.02)
            out = consume(b, prod)
            stats = b.stats()
        assert prod.dropped.get(0, 0) > 0 and prod.written
        assert [e.data for e in out] == [data for _, data in prod.written]
        assert stats.events_read == len(prod.written)
        assert stats.dropped_kernel == sum(prod.dropped.values())
        assert stats.extra["cpu0.n_drops_buffer"] == prod.dropped.get(0, 0)
        drv.close()

    def test_page_faults_and_preemptions(self, tmp_path):
        drv = SimDriver(tmp_path, 2, api=(1, 0, 0), schema=(1, 0, 0))
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            for _ in range(3):
                drv.rings[1].count_drop_pf()
            drv.rings[0].count_preemption()
            stats = b.stats()
        assert stats.dropped_kernel == 3 and stats.per_cpu_drops == {0: 0, 1: 3}
        assert stats.extra["n_drops_pf"] == 3 and stats.extra["cpu1.n_drops_pf"] == 3
        assert stats.extra["n_preemptions"] == 1 and stats.extra["cpu0.n_preemptions"] == 1
        assert b.stats().extra["n_evts"] == 4   # still readable after close
        drv.close()


class TestSimulator:
    """The simulated driver writes and drops as the driver's record_event_consumer."""

    def test_burst_equals_event_by_event(self, tmp_path):
        raws = _raws(CAPTURES[0])
        evts = [to_ring_event(r) for r in raws]
        drv = SimDriver(tmp_path, 2, buffer_bytes_dim=16 * 1024)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv):
            one, many = drv.rings[0], drv.rings[1]
            for ring in (one, many):   # start near the end, so writes wrap
                ring.mem[ring.info_offset:ring.info_offset + 8] = struct.pack("<II", 15000, 15000)
            written = [e for e in evts if one.record(e)]
            assert many.record_many(evts) == written
            assert one.mem[:] == many.mem[:]
            assert 0 < one.dropped == many.dropped < len(evts)
        drv.close()

    def test_one_byte_stays_free(self, tmp_path):
        drv = SimDriver(tmp_path, 1, buffer_bytes_dim=16 * 1024)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv):
            ring = drv.rings[0]
            assert ring.free() == 16 * 1024 - 1
            assert not ring.record(b"x" * (16 * 1024)) and ring.record(b"x" * (16 * 1024 - 1))
            assert ring.head_tail() == (16 * 1024 - 1, 0) and ring.free() == 0
        drv.close()


class TestKernelFiltering:
    """With event types, the driver sends only those (legacy event mask)."""

    def test_legacy_mask(self, tmp_path):
        raws = _raws(next(p for p in CAPTURES if p.name == "open-multiple-files.scap"))
        wanted = types_named("open") | types_named("openat") | types_named("close")
        drv = SimDriver(tmp_path, 2, api=(1, 0, 0), schema=(1, 0, 0))
        events = spread_events(raws, 2, seed=1)
        with KmodBackend(types=wanted, devices_glob=drv.devices_glob, driver=drv) as b:
            prod = Producer(drv, events)
            out = consume(b, prod)
        expected = [_key(r) for r in raws if r.type in wanted]
        assert expected and [_key(e) for e in out] == expected
        assert prod.skipped == len(raws) - len(expected)
        drv.close()

    def test_capture_disabled_after_exit(self, tmp_path):
        drv = SimDriver(tmp_path, 1, api=(1, 0, 0), schema=(1, 0, 0))
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv):
            assert drv.capturing(0)
        assert not drv.capturing(0)
        drv.close()


class TestCorruption:
    """An impossible event length is counted, not fatal."""

    def test_bad_length(self, tmp_path):
        raws = _raws(CAPTURES[0])[:20]
        drv = SimDriver(tmp_path, 1)
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as b:
            good = to_ring_event(raws[0])
            bad = bytearray(to_ring_event(raws[1]))
            struct.pack_into("<I", bad, 16, 10)   # len below the header size
            drv.rings[0].record(good)
            drv.rings[0].record(bytes(bad))
            b.stop()
            out = [e for e in b if e is not None]
            assert [e.data for e in out] == [good]
            assert b.stats().dropped_decode == 1
        drv.close()


class TestReadRaces:
    """Events published while a round reads the heads still come out in timestamp order."""

    def _two_events(self):
        raws = _raws(next(p for p in CAPTURES if p.name == "curl_google.scap"))
        first = raws[0]
        later = next(r for r in raws if r.ts > first.ts)
        return to_ring_event(first), to_ring_event(later)

    def _run(self, monkeypatch, tmp_path, method, cpu_trigger):
        from falcolib_kmod.ring import Ring

        early, late = self._two_events()
        drv = SimDriver(tmp_path, 2, buffer_bytes_dim=16 * 1024)
        original = getattr(Ring, method)
        fired = []

        def racing(self):
            result = original(self)
            if self.cpu == cpu_trigger and not fired:
                fired.append(True)       # the kernel publishes right after this read
                drv.rings[0].record(early)
                drv.rings[1].record(late)
            return result

        monkeypatch.setattr(Ring, method, racing)
        out = []
        idle = 0
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv, empty_threshold=-1) as b:
            for raw in b:
                if raw is not None:
                    out.append(raw.data)
                else:
                    idle += 1
                if len(out) == 2 or idle > 50:
                    b.stop()
        drv.close()
        assert fired
        return out, [early, late]

    def test_between_first_and_second_look(self, monkeypatch, tmp_path):
        # ring 0's first look finds nothing; both events appear before ring 1's first look
        out, expected = self._run(monkeypatch, tmp_path, "head", 0)
        assert out == expected

    def test_during_second_look(self, monkeypatch, tmp_path):
        # ring 0 is copied empty; then the early event lands in ring 0 and the late one in
        # ring 1, whose copy shows it: it must wait for the early one
        out, expected = self._run(monkeypatch, tmp_path, "block", 0)
        assert out == expected
