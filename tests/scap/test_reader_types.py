"""Skipping by type (the cheap path of filters on evt.type) yields exactly the full stream's events."""
from __future__ import annotations

import pytest

from falcolib.scap.reader import ScapReader
from tests.conftest import CAPTURES

IDS = [p.name for p in CAPTURES]


def _key(e):
    return (e.num, e.ts, e.tid, e.type, e.nparams, e.cpu, e.size, e.hdr, e.flags, e.data)


class TestTypesPath:
    """Every field and byte of a yielded event is what the unfiltered reader gives."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_same_events_as_full_stream(self, cap):
        full = list(ScapReader(cap).events())
        seen = sorted({e.type for e in full})
        wanted = frozenset(seen[::3])  # a third of the types present
        some = list(ScapReader(cap, types=wanted).events())
        assert [_key(e) for e in some] == [_key(e) for e in full if e.type in wanted]
        assert some or not wanted
