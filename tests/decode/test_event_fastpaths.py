"""Event shortcuts that read bytes in place agree with the general decoder."""
from __future__ import annotations

from falcolib.decode import Event
from falcolib.scap.reader import ScapReader


class TestGenericName:
    """evt.type of generic events read in place equals the decoded syscall id's name."""

    def test_same_as_decoded(self, captures):
        checked = 0
        for cap in captures:
            for raw in ScapReader(cap, max_type=None).events():
                if raw.type in (0, 1):
                    fast = Event(raw).name
                    slow = Event(raw)
                    slow.value(0)          # parameters loaded: the general path
                    assert fast == slow.name, (cap.name, raw.num)
                    checked += 1
        assert checked > 1000

    def test_truncated_falls_back(self):
        from falcolib.backend.model import make_raw
        import struct
        # generic exit with nparams=2 but only the length array and one short value
        body = struct.pack("<QQIHI", 1, 2, 26 + 4 + 1, 1, 2) + struct.pack("<HH", 1, 0) + b"\x05"
        raw = make_raw(1, 2, 1, 2, 0, body, 0, len(body))
        evt = Event(raw)
        assert evt.name == Event(raw).name   # no exception, same answer twice
        assert isinstance(evt.name, str)
