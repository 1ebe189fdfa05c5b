"""Events read from the rings, written with ScapWriter, read by sysdig as the original capture."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from falcolib.scap.writer import ScapWriter
from falcolib_kmod import KmodBackend
from falcolib_kmod.sim import Producer, SimDriver, spread_events
from falcolib_scap import ScapBackend

from test_kmod_consumer import CAPTURES, consume

FORMAT = "%evt.num %evt.time %proc.name %thread.tid %evt.dir %evt.type %evt.args"


def _sysdig(sysdig: str, path: Path) -> list[str]:
    out = subprocess.run([sysdig, "-r", str(path), "-p", FORMAT], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return out.splitlines()


@pytest.mark.oracle
class TestCaptureFromRings:
    """`falcolib capture --backend kmod`'s path: what sysdig prints is unchanged."""

    # (capture, lines sysdig prints for it): old 22-byte headers; new headers, two CPUs
    @pytest.mark.parametrize("name,lines", [("cat_write.scap", 85), ("single_ipv6_conn.scap", 28)])
    def test_sysdig_reads_it(self, name, lines, sysdig, tmp_path):
        path = next(p for p in CAPTURES if p.name == name)
        with ScapBackend(path) as b:
            snapshot = b.snapshot()
            raws = list(b)
        drv = SimDriver(tmp_path / "drv", 3, buffer_bytes_dim=16 * 1024)
        out = tmp_path / "from-rings.scap"
        with KmodBackend(devices_glob=drv.devices_glob, driver=drv) as backend:
            events = consume(backend, Producer(drv, spread_events(raws, 3, seed=5)))
        drv.close()
        with ScapWriter(out, snapshot) as writer:
            for raw in events:
                writer.write(raw)
        expected = _sysdig(sysdig, path)
        assert len(expected) == lines
        assert _sysdig(sysdig, out) == expected
