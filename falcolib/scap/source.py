"""The byte source under the scap reader: a plain file or a gzip stream.

Gzip is decompressed here with zlib rather than through ``gzip.GzipFile``
so that memory stays bounded (each call yields at most the bytes asked
for, however well the input compresses), so that a corrupt or truncated
stream is reported with the compressed offset where it went wrong, and so
that concatenated members are read one after another as zlib's gzread
does. Bytes after the last member that do not start another member are
ignored, as gzread ignores them.
"""
from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"
IN_CHUNK = 1 << 16


class SourceError(Exception):
    """Reading or decompressing failed; ``compressed_offset`` says where (gzip)."""

    def __init__(self, message: str, compressed_offset: int | None = None):
        super().__init__(message)
        self.compressed_offset = compressed_offset


class PlainSource:
    gzipped = False

    def __init__(self, fh):
        self._fh = fh

    def read(self, n: int) -> bytes:
        try:
            return self._fh.read(n)
        except OSError as exc:
            raise SourceError(f"read error: {exc.strerror or exc}") from None

    def close(self) -> None:
        self._fh.close()


class GzipSource:
    gzipped = True

    def __init__(self, fh):
        self._fh = fh
        self._z = zlib.decompressobj(31)
        self._pending = b""     # compressed bytes not yet given to zlib
        self._fed = 0           # compressed bytes read from the file
        self._done = False
        self._failure: SourceError | None = None

    def _offset(self) -> int:
        """Compressed offset of the first byte zlib has not consumed."""
        z = self._z
        return self._fed - len(self._pending) - len(z.unconsumed_tail) - len(z.unused_data)

    def _input(self) -> bool:
        try:
            more = self._fh.read(IN_CHUNK)
        except OSError as exc:
            raise SourceError(f"read error: {exc.strerror or exc}", self._offset()) from None
        self._fed += len(more)
        self._pending += more
        return bool(more)

    def read(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes (b"" at the end). A failure is
        raised after the bytes decompressed before it have been returned."""
        if self._failure is not None:
            raise self._failure
        out: list[bytes] = []
        try:
            self._read(n, out)
        except SourceError as exc:
            if not out:
                raise
            self._failure = exc
        return b"".join(out)

    def _read(self, n: int, out: list[bytes]) -> None:
        want = n
        while want > 0 and not self._done:
            z = self._z
            if z.eof:
                self._pending = z.unused_data + self._pending
                if len(self._pending) < 2 and self._input():
                    continue
                if self._pending[:2] != GZIP_MAGIC:
                    self._done = True   # trailing bytes after the last member: ignored
                    break
                self._z = zlib.decompressobj(31)
                continue
            data = z.unconsumed_tail
            at = self._offset()
            if not data:
                if not self._pending and not self._input():
                    raise SourceError("compressed data ends before the end of the gzip "
                                      "stream (file truncated?)", self._offset())
                data, self._pending = self._pending, b""
            saved = z.copy()
            try:
                chunk = z.decompress(data, want)
            except zlib.error as exc:
                at += _locate(saved, data)
                raise SourceError(f"corrupt gzip data: {exc}", at) from None
            if chunk:
                out.append(chunk)
                want -= len(chunk)

    def close(self) -> None:
        self._fh.close()


def _locate(z, data: bytes, step: int = 16) -> int:
    """Offset in ``data`` of the piece where decompressing with ``z`` fails."""
    for i in range(0, len(data), step):
        try:
            z.decompress(data[i:i + step], 1 << 16)
            while z.unconsumed_tail:
                z.decompress(z.unconsumed_tail, 1 << 16)
        except zlib.error:
            return i
    return 0


def open_source(path: str):
    """Open ``path`` (plain or gzip, by its magic). Raises OSError."""
    fh = open(path, "rb")
    try:
        magic = fh.read(2)
        fh.seek(0)
    except OSError:
        fh.close()
        raise
    return GzipSource(fh) if magic == GZIP_MAGIC else PlainSource(fh)
