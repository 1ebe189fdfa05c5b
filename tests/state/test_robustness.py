"""Malformed events never raise out of the state engine or the field extractors."""
from __future__ import annotations

import random

from falcolib.decode.table import EVENTS
from falcolib.fields.catalogue import ArgKind, all_fields
from falcolib.state import State, wanted_types
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot

_SIZES = (0, 1, 2, 4, 7, 8, 13, 19, 37, 64)


def _junk(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.choice(_SIZES)))


class TestGarbage:
    """Random parameter bytes (wrong sizes, bad families, no NULs) for every parsed type."""

    def test_random_params(self):
        rng = random.Random(1234)
        st = State(base_snapshot())
        fields = [f for f in all_fields() if f.field_class != "evt"
                  and f.arg in (ArgKind.NONE, ArgKind.OPT_INDEX, ArgKind.OPT_KEY)]
        codes = sorted(wanted_types())
        for round_ in range(6):
            for code in codes:
                info = EVENTS[code]
                b = EventBuilder(tid=rng.choice((1, 100, 200, 4242, 0)))
                n = rng.randrange(len(info.params) + 1)
                raw = b.event(code, *[_junk(rng) for _ in range(n)])
                from falcolib.decode.event import Event
                view = st.process(Event(raw))
                for f in fields:
                    f.extract(view)
        assert len(st.threads) >= 1
