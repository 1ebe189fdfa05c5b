"""The scap reader on the shared captures, checked against sysdig 0.29."""
from __future__ import annotations

import gzip
import struct

import pytest

from falcolib.decode.table import EVENT_NPARAMS, SYSDIG_EVENT_MAX
from falcolib.scap import format as F
from falcolib.scap.reader import ScapReader
from .oracle import CAPTURES, sysdig_output

IDS = [p.name for p in CAPTURES]


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _blocks(path):
    """(type, offset, length) of every block, by a plain independent walk."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    out, pos = [], 0
    while pos < len(data):
        t, n = struct.unpack_from("<II", data, pos)
        out.append((t, pos, n))
        pos += n
    return data, out


class TestNumbering:
    """RawEvent.num is sysdig's evt.num; ts and tid are the header's."""

    @pytest.mark.oracle
    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_matches_sysdig(self, cap, sysdig):
        """Every event sysdig prints has our event with its number, time and thread."""
        text = sysdig_output(sysdig, cap, "*%evt.num %evt.rawtime %thread.tid")
        expected = [tuple(map(int, line.split())) for line in text.splitlines() if line]
        reader = ScapReader(cap)
        ours = {e.num: (e.num, e.ts, _signed(e.tid)) for e in reader.events()}
        for row in expected:
            assert ours.get(row[0]) == row
        if expected:
            assert reader.events_read >= expected[-1][0]

    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_numbers_are_consecutive(self, cap):
        """Numbers run 1..N over every event block below sysdig's table size."""
        _, blocks = _blocks(cap)
        reader = ScapReader(cap)
        nums = [e.num for e in reader.events()]
        assert nums == list(range(1, len(nums) + 1))
        assert len(nums) + reader.skipped_events == sum(
            1 for t, _, _ in blocks if t in F.EVENT_BLOCKS)

    def test_types_beyond_sysdig_table_are_not_numbered(self):
        """sample.scap's user/group meta-events (types >= 336) are skipped unless asked for."""
        cap = next(p for p in CAPTURES if p.name == "sample.scap")
        default = list(ScapReader(cap).events())
        every = list(ScapReader(cap, max_type=None).events())
        assert all(e.type < SYSDIG_EVENT_MAX for e in default)
        assert any(e.type >= SYSDIG_EVENT_MAX for e in every)
        assert len(every) > len(default)

    def test_types_filter_keeps_numbers(self):
        """With types=..., the yielded events keep the numbers of the full stream."""
        cap = next(p for p in CAPTURES if p.name == "curl_google.scap")
        full = list(ScapReader(cap).events())
        wanted = frozenset({full[10].type, full[200].type})
        some = list(ScapReader(cap, types=wanted).events())
        assert [(e.num, e.ts) for e in some] == [(e.num, e.ts) for e in full if e.type in wanted]


class TestFraming:
    """Events point at exactly their bytes in the block."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_event_bytes_match_blocks(self, cap):
        """Each RawEvent's header fields and bytes equal what its block holds."""
        data, blocks = _blocks(cap)
        evblocks = [(t, off) for t, off, _ in blocks if t in F.EVENT_BLOCKS]
        events = list(ScapReader(cap, max_type=None).events())
        assert len(events) == len(evblocks)
        for e, (t, off) in zip(events, evblocks):
            hdr = F.EVENT_BLOCKS[t][0]
            assert e.hdr == hdr
            assert e.data == data[off + 10:off + 10 + e.size]
            ts, tid, _len, etype = struct.unpack_from("<QQIH", data, off + 10)
            assert (e.ts, e.tid, e.type) == (ts, tid, etype)

    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_headers_agree_with_events(self, cap):
        """headers() yields one tuple per numbered event with the same fields."""
        events = list(ScapReader(cap).events())
        heads = list(ScapReader(cap).headers())
        assert [(h[3], h[4], h[6], h[7], h[2]) for h in heads] == \
            [(e.ts, e.tid, e.type, e.nparams, e.cpu) for e in events]

    def test_old_events_parameter_count_fills_event(self):
        """A 22-byte-header event's worked-out count makes lengths and values fill it."""
        for cap in CAPTURES:
            for e in ScapReader(cap).events():
                if e.hdr != 22:
                    continue
                lens = struct.unpack_from(f"<{e.nparams}H", e.buf, e.off + 22)
                assert 22 + 2 * e.nparams + sum(lens) == e.size
                assert e.nparams <= EVENT_NPARAMS[e.type]

    def test_small_chunks_give_same_events(self, monkeypatch):
        """Blocks straddling chunk boundaries are framed the same."""
        import falcolib.scap.reader as reader_mod
        cap = next(p for p in CAPTURES if p.name == "ping_sendto.scap")
        big = [(e.num, e.data) for e in ScapReader(cap).events()]
        monkeypatch.setattr(reader_mod, "CHUNK", 97)
        small = [(e.num, e.data) for e in ScapReader(cap).events()]
        assert small == big


class TestHeaderInfo:
    """Section header and block bookkeeping."""

    @pytest.mark.parametrize("cap", CAPTURES, ids=IDS)
    def test_version_and_state_blocks(self, cap):
        """The SHB version is read and every state block before the events is kept."""
        data, blocks = _blocks(cap)
        major, minor = struct.unpack_from("<HH", data, 12)
        reader = ScapReader(cap)
        reader.snapshot()
        assert (reader.major, reader.minor) == (major, minor)
        first_ev = next(i for i, b in enumerate(blocks) if b[0] in F.EVENT_BLOCKS)
        assert [(t, off) for t, off, _ in blocks[1:first_ev]] == \
            [(t, off) for t, _, off in reader.state_blocks]
        assert reader.gzipped == (cap.read_bytes()[:2] == b"\x1f\x8b")


def _rewrap(data: bytes, new_type: int, flags: int | None) -> bytes:
    """Every event block of ``data`` re-framed as ``new_type`` (flags word if given)."""
    out, pos = [], 0
    while pos < len(data):
        t, n = struct.unpack_from("<II", data, pos)
        if t in F.EVENT_BLOCKS:
            cpu = data[pos + 8:pos + 10]
            elen = struct.unpack_from("<I", data, pos + 26)[0]
            event = data[pos + 10:pos + 10 + elen]
            body = cpu + (struct.pack("<I", flags) if flags is not None else b"") + event
            pad = -len(body) % 4
            total = 8 + len(body) + pad + 4
            out.append(struct.pack("<II", new_type, total) + body + b"\0" * pad
                       + struct.pack("<I", total))
        else:
            out.append(data[pos:pos + n])
        pos += n
    return b"".join(out)


class TestOtherEventBlocks:
    """Flagged, large and pre-release event block types frame like the common ones."""

    @pytest.mark.parametrize("name,new_type,flags", [
        ("cat_write.scap", F.EVF_BLOCK_TYPE, 3),
        ("cat_write.scap", F.EV_BLOCK_TYPE_INT, None),
        ("sample.scap", F.EVF_BLOCK_TYPE_V2, 1),
        ("sample.scap", F.EV_BLOCK_TYPE_V2_LARGE, None),
        ("sample.scap", F.EVF_BLOCK_TYPE_V2_LARGE, 2),
    ])
    def test_same_events(self, name, new_type, flags, tmp_path):
        """Same numbers, headers and bytes; flags come through."""
        cap = next(p for p in CAPTURES if p.name == name)
        data, _ = _blocks(cap)
        p = tmp_path / "rewrapped.scap"
        p.write_bytes(_rewrap(data, new_type, flags))
        old = list(ScapReader(cap).events())
        new = list(ScapReader(p).events())
        assert [(e.num, e.ts, e.tid, e.type, e.nparams, e.data) for e in new] == \
            [(e.num, e.ts, e.tid, e.type, e.nparams, e.data) for e in old]
        assert {e.flags for e in new} == {flags or 0}


class TestConcatenated:
    """Two captures back to back: a second section header, its state blocks, its events."""

    @pytest.mark.oracle
    def test_numbering_runs_on(self, tmp_path, sysdig):
        """sysdig numbers the second section's events after the first's, and so do we."""
        first = next(p for p in CAPTURES if p.name == "ping_sendto.scap")
        second = next(p for p in CAPTURES if p.name == "sample.scap")
        p = tmp_path / "both.scap"
        p.write_bytes(_blocks(first)[0] + _blocks(second)[0])
        text = sysdig_output(sysdig, p, "*%evt.num %evt.rawtime %thread.tid")
        expected = [tuple(map(int, line.split())) for line in text.splitlines()]
        reader = ScapReader(p)
        ours = {e.num: (e.num, e.ts, _signed(e.tid)) for e in reader.events()}
        assert [ours[row[0]] for row in expected] == expected
        assert reader.events_read == expected[-1][0]
        assert reader.late_blocks and reader.unknown_blocks == 0
