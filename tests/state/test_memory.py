"""Memory stays flat while a capture is replayed many times through one State."""
from __future__ import annotations

import tracemalloc

from falcolib.decode.event import Event
from falcolib.scap.blocks import parse_state_blocks
from falcolib.scap.reader import ScapReader
from falcolib.state import State


def _replay(state, path):
    for raw in ScapReader(path).events():
        state.process(Event(raw))


class TestBoundedMemory:
    """Threads that exit leave the table; replays do not accumulate."""

    def test_repeated_replay_is_flat(self, captures):
        big = max(captures, key=lambda p: p.stat().st_size)
        reader = ScapReader(big)
        next(reader.events())
        state = State(parse_state_blocks(reader.state_blocks), max_threads=4096)
        for _ in range(2):  # warm up caches and the tables
            for p in captures:
                _replay(state, p)
        tracemalloc.start()
        base = tracemalloc.take_snapshot()
        for _ in range(4):
            for p in captures:
                _replay(state, p)
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(base, "filename"))
        tracemalloc.stop()
        assert grown < 2 * 1024 * 1024, f"grew {grown} bytes over 4 replays"
        assert len(state.threads) <= 4096

    def test_thread_table_is_bounded(self, captures):
        state = State(None, max_threads=50, host_tables=False)
        for p in captures:
            _replay(state, p)
        assert len(state.threads) <= 50


BIG = __import__("pathlib").Path(__file__).resolve().parents[2] / "benchmarks" / "out" / "big.scap"


class TestLongCapture:
    """On the benchmark capture (if built), memory after 200k events is what it was after 50k."""

    def test_big_capture_flat(self):
        import pytest
        if not BIG.exists():
            pytest.skip("benchmarks/out/big.scap not built (benchmarks/make_big.py)")
        reader = ScapReader(BIG)
        state = None
        tracemalloc.start()
        marks = {}
        for raw in reader.events():
            if state is None:
                state = State(parse_state_blocks(reader.state_blocks))
            state.process(Event(raw))
            if raw.num in (50_000, 200_000):
                marks[raw.num] = tracemalloc.get_traced_memory()[0]
                if raw.num == 200_000:
                    break
        tracemalloc.stop()
        assert len(marks) == 2
        assert marks[200_000] - marks[50_000] < 4 * 1024 * 1024, marks
