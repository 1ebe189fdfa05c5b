"""The scap backend: discovered by entry point, replays a capture, exposes state."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from falcolib.backend import BackendStats, StateSnapshot, available_backends, open_backend
from falcolib.decode.table import types_named
from falcolib.errors import CaptureFormatError
from falcolib.scap.reader import ScapReader

@pytest.fixture
def capture(shared_dir) -> Path:
    return shared_dir / "captures" / "single_ipv6_conn.scap"


class TestRegistry:
    """The backend is found through the falcolib.backends entry-point group."""

    def test_entry_point(self):
        """The installed distribution registers 'scap'."""
        eps = {ep.name: ep.value for ep in metadata.entry_points(group="falcolib.backends")}
        assert eps.get("scap") == "falcolib_scap:ScapBackend"
        assert "scap" in available_backends()

    def test_unknown_and_missing_backends(self, monkeypatch):
        """An unknown name lists what exists; a built-in whose plugin is not installed says
        how to install it (one line, no traceback)."""
        from falcolib.backend import registry
        from falcolib.errors import UnknownBackend
        with pytest.raises(UnknownBackend, match="no backend named 'nosuch'; available: .*scap"):
            open_backend("nosuch")
        monkeypatch.setitem(registry._BUILTIN, "gone", ("falcolib_gone_plugin:X", "pip install gone"))
        with pytest.raises(UnknownBackend, match="backend 'gone' is not installed") as exc:
            open_backend("gone")
        assert exc.value.hint == "pip install gone"

    def test_open_by_name(self, capture):
        """open_backend('scap', path=...) gives a working backend."""
        reader = ScapReader(capture)
        expected = sum(1 for _ in reader.events())
        backend = open_backend("scap", path=capture)
        with backend as b:
            assert b.name == "scap"
            assert sum(1 for _ in b) == expected == reader.events_read


class TestReplay:
    """Iteration, snapshot, stats and stop behave as the Backend protocol says."""

    def test_events_and_stats(self, capture):
        """Every event is yielded once, in order, and counted."""
        expected = [(e.num, e.ts) for e in ScapReader(capture).events()]
        from falcolib_scap import ScapBackend
        with ScapBackend(capture) as b:
            got = [(e.num, e.ts) for e in b]
            stats = b.stats()
        assert got == expected
        assert isinstance(stats, BackendStats)
        assert stats.events_read == len(expected) and stats.dropped == 0

    def test_snapshot(self, capture):
        """snapshot() is the capture's state blocks."""
        from falcolib_scap import ScapBackend
        with ScapBackend(capture) as b:
            snap = b.snapshot()
        assert isinstance(snap, StateSnapshot)
        assert snap == ScapReader(capture).snapshot()
        assert snap.processes and snap.users and snap.interfaces

    def test_types(self, capture):
        """types=... yields only those types, numbered as in the full stream."""
        from falcolib_scap import ScapBackend
        wanted = types_named("connect")
        with ScapBackend(capture, types=wanted) as b:
            got = [(e.num, e.type) for e in b]
            total = b.stats().events_read
        full = list(ScapReader(capture).events())
        assert got and got == [(e.num, e.type) for e in full if e.type in wanted]
        assert total == len(full)

    def test_stop(self, capture):
        """stop() ends the iteration early."""
        from falcolib_scap import ScapBackend
        with ScapBackend(capture) as b:
            n = 0
            for _ in b:
                n += 1
                if n == 10:
                    b.stop()
        assert n == 10

    def test_bad_file_fails_on_enter(self, tmp_path):
        """A file that is not a capture fails when the backend is entered."""
        from falcolib_scap import ScapBackend
        p = tmp_path / "x.scap"
        p.write_bytes(b"\0" * 64)
        with pytest.raises(CaptureFormatError, match="not a scap file"):
            with ScapBackend(p):
                pass

    def test_set_event_types_after_enter(self, capture):
        """set_event_types() between __enter__ and iteration narrows what is yielded."""
        from falcolib_scap import ScapBackend
        events = list(ScapReader(capture).events())
        wanted = frozenset({events[len(events) // 2].type})
        with ScapBackend(capture) as b:
            b.set_event_types(wanted)
            got = [e.num for e in b]
        assert got == [e.num for e in events if e.type in wanted]
