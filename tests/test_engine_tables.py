"""The engine's per-type tables agree with the rules they are built from."""
from __future__ import annotations

from falcolib.decode.visibility import sysdig_hides
from falcolib.engine import hidden_types


class TestHiddenTypes:
    """hidden_types() is sysdig_hides for every 16-bit event type code."""

    def test_every_code(self):
        table = hidden_types()
        assert len(table) == 1 << 16
        assert table == [sysdig_hides(t) for t in range(1 << 16)]

    def test_shown_and_hidden_both_present(self):
        table = hidden_types()
        assert not all(table) and any(table[:300])   # internal events below the max
