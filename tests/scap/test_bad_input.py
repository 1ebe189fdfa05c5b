"""Bad capture files end in one CaptureFormatError naming file and byte offset."""
from __future__ import annotations

import gzip
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import falcolib.decode.table  # noqa: F401  (imported up front: its import is not the reader's memory)
from falcolib.errors import CaptureFormatError
from falcolib.scap import format as F
from falcolib.scap.reader import ScapReader

from .oracle import CAPTURES

RAW = {p.name: p.read_bytes() for p in CAPTURES}
PLAIN = {n: gzip.decompress(d) if d[:2] == b"\x1f\x8b" else d for n, d in RAW.items()}
OFFSET = re.compile(r": byte offset (\d+): ")


def consume(path) -> int:
    """Read the whole capture the way a replay does; return the event count."""
    reader = ScapReader(path, max_type=None)
    reader.snapshot()
    return sum(1 for _ in reader.events())


def expect_error(path, offset: int | None = None, match: str = "") -> CaptureFormatError:
    with pytest.raises(CaptureFormatError) as info:
        consume(path)
    err = info.value
    text = str(err)
    assert "\n" not in text and text.startswith(f"{path}: byte offset ")
    found = int(OFFSET.search(text).group(1))
    if offset is not None:
        assert found == offset
    assert re.search(match, text), text
    return err


def _block_offsets(data: bytes) -> list[tuple[int, int, int]]:
    out, pos = [], 0
    while pos < len(data):
        t, n = struct.unpack_from("<II", data, pos)
        out.append((t, pos, n))
        pos += n
    return out


class TestNotScap:
    """Files that are not captures at all."""

    def test_zero_length(self, tmp_path):
        """An empty file is not a scap file, at offset 0."""
        p = tmp_path / "empty.scap"
        p.write_bytes(b"")
        expect_error(p, 0, "not a scap file.*found 0 bytes")

    def test_text_file(self, tmp_path):
        """A text file names the block type it found instead of the section header."""
        p = tmp_path / "notes.scap"
        p.write_text("this is not a capture\n")
        expect_error(p, 0, "expected section header block type 0x0a0d0d0a, found 0x73696874")

    def test_bad_magic(self, tmp_path):
        """A section header with the wrong byte-order magic is reported at the magic."""
        data = bytearray(PLAIN["sample.scap"])
        data[8:12] = b"\xde\xad\xbe\xef"
        p = tmp_path / "magic.scap"
        p.write_bytes(bytes(data))
        expect_error(p, 8, "byte-order magic 0xefbeadde")

    def test_missing_file(self, tmp_path):
        """A missing file is a CaptureFormatError naming it, not an OSError traceback."""
        with pytest.raises(CaptureFormatError, match="cannot open capture: No such file"):
            consume(tmp_path / "nope.scap")


class TestTruncated:
    """Files cut short anywhere."""

    @pytest.mark.parametrize("name", ["cat_write.scap", "sample.scap"])
    def test_cut_inside_each_kind_of_block(self, name, tmp_path):
        """Cut one byte short of every kind of block: the error is at that block."""
        data = PLAIN[name]
        seen = set()
        for t, off, n in _block_offsets(data):
            kind = "event" if t in F.EVENT_BLOCKS else t
            if kind in seen:
                continue
            seen.add(kind)
            p = tmp_path / f"cut_{off}.scap"
            p.write_bytes(data[:off + n - 1])
            expect_error(p, off, "truncated")
        assert len(seen) >= 6

    def test_cut_inside_block_header(self, tmp_path):
        """Five bytes of a block header left: 'expected 8 bytes, found 5'."""
        data = PLAIN["syscall.scap"]
        _, off, _ = _block_offsets(data)[3]
        p = tmp_path / "hdr.scap"
        p.write_bytes(data[:off + 5])
        expect_error(p, off, "expected 8 bytes, found 5")

    def test_truncated_gzip(self, tmp_path):
        """A gzip file cut in half names the compressed offset where data ran out."""
        data = RAW["curl_google.scap"]
        p = tmp_path / "half.scap.gz"
        p.write_bytes(data[:len(data) // 2])
        expect_error(p, len(data) // 2, "ends before the end of the gzip stream")


class TestCorrupt:
    """Damaged length fields, trailers and compressed data."""

    def test_corrupt_gzip(self, tmp_path):
        """Zeroed compressed bytes give a gzip error at (about) the damage."""
        data = bytearray(RAW["cat_write.scap"])
        data[300:340] = bytes(40)
        p = tmp_path / "damaged.scap.gz"
        p.write_bytes(bytes(data))
        err = expect_error(p, match="corrupt gzip data")
        assert 280 <= err.position.offset <= 340

    def test_huge_block_length(self, tmp_path):
        """A block length of 4 GiB is rejected up front, not allocated."""
        data = bytearray(PLAIN["ping_sendto.scap"])
        t, off, n = next(b for b in _block_offsets(bytes(data)) if b[0] == F.EV_BLOCK_TYPE_V2)
        data[off + 4:off + 8] = struct.pack("<I", 0xFFFFFFF0)
        p = tmp_path / "huge.scap"
        p.write_bytes(bytes(data))
        expect_error(p, off, "invalid length 4294967280 for event block")

    def test_event_longer_than_block(self, tmp_path):
        """An event length beyond its block names the event's length field."""
        data = bytearray(PLAIN["ping_sendto.scap"])
        t, off, n = next(b for b in _block_offsets(bytes(data)) if b[0] == F.EV_BLOCK_TYPE_V2)
        data[off + 26:off + 30] = struct.pack("<I", n)
        p = tmp_path / "evlen.scap"
        p.write_bytes(bytes(data))
        expect_error(p, off + 26, "event length .* does not fit its block")

    def test_state_trailer_mismatch(self, tmp_path):
        """A state block whose trailer disagrees with its header is refused."""
        data = bytearray(PLAIN["sample.scap"])
        t, off, n = _block_offsets(bytes(data))[2]
        data[off + n - 4:off + n] = struct.pack("<I", n + 4)
        p = tmp_path / "trailer.scap"
        p.write_bytes(bytes(data))
        expect_error(p, off + n - 4, "trailer length")

    def test_old_event_with_bad_parameter_lengths(self, tmp_path):
        """A 2016-style event whose lengths cannot add up names the event."""
        data = bytearray(PLAIN["cat_write.scap"])
        t, off, n = next(b for b in _block_offsets(bytes(data))
                         if b[0] == F.EV_BLOCK_TYPE and b[2] > 60)
        data[off + 10 + 16:off + 10 + 20] = struct.pack("<I", 23)   # len: header + 1 byte
        p = tmp_path / "v1.scap"
        p.write_bytes(bytes(data))
        expect_error(p, off + 10, "parameter count")


MUTATIONS = st.sampled_from(["flip", "truncate", "length", "zero"])


@st.composite
def damaged(draw):
    name = draw(st.sampled_from(sorted(RAW)))
    data = bytearray(RAW[name] if draw(st.booleans()) else PLAIN[name])
    kind = draw(MUTATIONS)
    size = len(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 6))):
            i = draw(st.integers(0, size - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    elif kind == "truncate":
        data = data[:draw(st.integers(0, size - 1))]
    elif kind == "length":
        i = draw(st.integers(0, size // 4 - 1)) * 4
        value = draw(st.one_of(st.sampled_from([0, 1, 8, 12, 0xFFFFFFFF, 0x7FFFFFFF]),
                               st.integers(0, (1 << 32) - 1), st.integers(0, 512)))
        data[i:i + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    else:
        i = draw(st.integers(0, size - 1))
        data[i:i + draw(st.integers(1, 64))] = bytes(64)
    return bytes(data)


class TestFuzz:
    """Mutated real captures: a clean read or one CaptureFormatError, nothing else."""

    @settings(max_examples=1000, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.function_scoped_fixture])
    @given(data=damaged())
    def test_mutations(self, data, tmp_path):
        """Bit flips, truncation, length-field corruption, zeroed runs."""
        p = tmp_path / "fuzz.scap"
        p.write_bytes(data)
        try:
            consume(p)
        except CaptureFormatError as err:
            text = str(err)
            assert "\n" not in text
            assert OFFSET.search(text) and text.startswith(f"{p}: ")


class TestBoundedMemory:
    """Memory stays bounded by the read chunk, whatever the input."""

    def test_gzip_bomb(self, tmp_path):
        """100 MB of zeros after a valid header fail fast without being inflated whole."""
        import tracemalloc
        import zlib
        head = PLAIN["sample.scap"][:28]
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        parts = [z.compress(head)]
        zeros = bytes(1 << 20)
        parts += [z.compress(zeros) for _ in range(100)]
        parts.append(z.flush())
        p = tmp_path / "bomb.scap.gz"
        p.write_bytes(b"".join(parts))
        tracemalloc.start()
        try:
            expect_error(p, 28, "invalid length 0")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 8 << 20

    def test_streaming_big_capture(self, tmp_path):
        """Iterating a capture larger than the read chunk never holds it all."""
        import tracemalloc
        from falcolib.scap.writer import ScapWriter
        events = list(ScapReader(next(p for p in CAPTURES if p.name == "psp_run_as_user_0_container.scap")).events())
        p = tmp_path / "big.scap"
        with ScapWriter(p) as w:
            for _ in range(40):
                for e in events:
                    w.write(e)
        size = p.stat().st_size
        tracemalloc.start()
        try:
            n = sum(1 for _ in ScapReader(p).events())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert n == 40 * len(events)
        assert size > 8 << 20 and peak < size / 2
