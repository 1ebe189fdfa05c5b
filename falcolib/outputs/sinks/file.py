"""file_output: alerts appended to a file, reopened on request (SIGUSR1) for log rotation.

As Falco: with ``keep_alive`` false the file is opened and closed around every alert
(rotation then needs no signal); with ``keep_alive`` true it stays open until
:meth:`reopen`. Unbuffered writes are one ``write(2)`` per alert on an ``O_APPEND``
descriptor, so a failed write (a full disk) is exactly one failed alert.
"""
from __future__ import annotations

import os

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["FileSink"]

_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class FileSink(BaseSink):
    """Appends one line per alert to ``path``."""

    name = "file"

    def __init__(self, path: str, *, keep_alive: bool = False, buffered: bool = False,
                 mode: int = 0o640) -> None:
        self.path = path
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.mode = mode
        self._fd: int | None = None
        self._pending: list[bytes] = []

    def open(self) -> None:
        if self.keep_alive:
            self._ensure_open()

    def _ensure_open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, _FLAGS, self.mode)
        return self._fd

    def _write(self, data: bytes) -> None:
        fd = self._ensure_open()
        try:
            written = os.write(fd, data)
            if written != len(data):
                # A short write on a regular file means the device is full: undo nothing,
                # report the alert as failed (the partial line ends with no newline).
                raise OSError(f"short write to {self.path}: {written} of {len(data)} bytes")
        finally:
            if not self.keep_alive:
                self._close_fd()

    def emit(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        if self.buffered:
            self._pending.append(data)
            if len(self._pending) >= 256:
                self.flush()
        else:
            self._write(data)

    def emit_many(self, lines: list[str]) -> tuple[int, int, Exception | None]:
        """Several lines in one write(2); after a short write, the lines that did not fit
        entirely are written one by one so each is counted delivered or failed exactly."""
        if self.buffered:
            for line in lines:
                self.emit(line)
            return len(lines), 0, None
        datas = [(line + "\n").encode("utf-8", "replace") for line in lines]
        blob = b"".join(datas)
        try:
            fd = self._ensure_open()
            written = os.write(fd, blob)
        except OSError as exc:
            if not self.keep_alive:
                self._close_fd()
            return 0, len(lines), exc
        if written == len(blob):
            if not self.keep_alive:
                self._close_fd()
            return len(lines), 0, None
        delivered = failed = 0
        error: Exception | None = OSError(f"short write to {self.path}")
        offset = 0
        for index, data in enumerate(datas):
            if offset + len(data) <= written:
                delivered += 1
            elif offset < written:
                failed += 1  # partly written: its tail is missing from the file
            else:
                for rest in datas[index:]:
                    try:
                        self._write(rest)
                        delivered += 1
                    except OSError as exc:
                        failed += 1
                        error = exc
                break
            offset += len(data)
        if not self.keep_alive:
            self._close_fd()
        return delivered, failed, error

    def flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            self._write(data)

    def reopen(self) -> None:
        self.flush()
        self._close_fd()
        if self.keep_alive:
            self._ensure_open()

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._close_fd()
