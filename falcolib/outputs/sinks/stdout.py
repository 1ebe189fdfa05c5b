"""stdout_output: one line per alert on standard output."""
from __future__ import annotations

import sys
from typing import TextIO

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["StdoutSink"]


class StdoutSink(BaseSink):
    """Writes each line to ``stream`` (stdout by default), flushed unless ``buffered``."""

    name = "stdout"

    def __init__(self, stream: TextIO | None = None, *, buffered: bool = False) -> None:
        self._stream = stream
        self.buffered = buffered

    def emit(self, line: str) -> None:
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        if not self.buffered:
            stream.flush()

    def emit_many(self, lines: list[str]) -> tuple[int, int, Exception | None]:
        """Several lines, one flush."""
        stream = self._stream or sys.stdout
        stream.write("".join(line + "\n" for line in lines))
        if not self.buffered:
            stream.flush()
        return len(lines), 0, None

    def flush(self) -> None:
        (self._stream or sys.stdout).flush()
