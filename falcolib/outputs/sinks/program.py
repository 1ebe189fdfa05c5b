"""program_output: alerts written, one line each, to a program's standard input.

The program is an argv list run without a shell (a string is split with shlex rules, so
pipes and redirections are not interpreted: wrap them in a script of your own). With
``keep_alive`` (falcolib's default) it is started once and restarted when it dies, with a
growing pause between quick restarts (0.1 s doubling up to ``max_backoff``) so a program
that exits at once cannot turn into a fork loop; without it, as Falco, one process per alert.

Nothing is lost silently when the program dies: the bytes it left unread in the pipe
(``FIONREAD`` on our end) tell which of the last lines it never read; those are sent once
more to the restarted program, and counted lost (``take_lost``) if that one dies with them
unread too. Exact for unbuffered output; with ``buffered_outputs`` lines may sit in our
buffer when the program dies.
"""
from __future__ import annotations

import fcntl
import logging
import shlex
import struct
import subprocess
import termios
import time
from collections import deque
from typing import Sequence

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["ProgramSink", "program_argv"]

log = logging.getLogger("falcolib.outputs")
_F_GETPIPE_SZ = 1032


def program_argv(program: str | Sequence[str]) -> list[str]:
    """The argv of ``program`` (a list, or a string split like a shell's words)."""
    argv = shlex.split(program) if isinstance(program, str) else [str(a) for a in program]
    if not argv:
        raise ValueError("program_output.program is empty")
    return argv


class ProgramSink(BaseSink):
    """Feeds each line to a child process's stdin."""

    name = "program"

    def __init__(self, program: str | Sequence[str], *, keep_alive: bool = True,
                 buffered: bool = False, env: dict[str, str] | None = None,
                 max_backoff: float = 5.0, drain_timeout: float = 2.0) -> None:
        self.argv = program_argv(program)
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.env = env
        self.max_backoff = max_backoff
        self.drain_timeout = drain_timeout
        self._proc: subprocess.Popen | None = None
        self._backoff = 0.0
        self._last_start = 0.0
        self._sent: deque[list] = deque()  # [data, resent] written to the current process
        self._sent_bytes = 0
        self._pipe_size = 65536
        self._lost = 0
        self.starts = 0
        self.resent = 0

    # -- process lifecycle ------------------------------------------------------------------
    def _start(self) -> subprocess.Popen:
        if self._backoff:
            wait = self._last_start + self._backoff - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_start = time.monotonic()
        self.starts += 1
        proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, env=self.env, close_fds=True,
                                shell=False, bufsize=-1 if self.buffered else 0)
        try:
            self._pipe_size = fcntl.fcntl(proc.stdin.fileno(), _F_GETPIPE_SZ)
        except OSError:
            pass
        self._proc = proc
        return proc

    def _unread(self, proc: subprocess.Popen) -> int:
        try:
            raw = fcntl.ioctl(proc.stdin.fileno(), termios.FIONREAD, b"\0\0\0\0")
            return struct.unpack("i", raw)[0]
        except (OSError, ValueError):
            return 0

    def _unread_lines(self, proc: subprocess.Popen) -> list[list]:
        """The lines (newest last) the dead ``proc`` left, fully or partly, in the pipe."""
        unread = self._unread(proc)
        tail: list[list] = []
        while unread > 0 and self._sent:
            entry = self._sent.pop()
            tail.append(entry)
            unread -= len(entry[0])
        tail.reverse()
        return tail

    def _retire(self, kill: bool = False) -> list[list]:
        """Stop the current process; return the lines it never read."""
        proc = self._proc
        if proc is None:
            return []
        if kill and proc.poll() is None:
            proc.kill()
        proc.wait()
        tail = self._unread_lines(proc)
        self._reap()
        quick = time.monotonic() - self._last_start < 1.0
        self._backoff = min(self.max_backoff, max(0.1, self._backoff * 2)) if quick else 0.0
        log.warning("output program: %s exited with %s (%d alerts unread), restarting",
                    self.argv[0], proc.returncode, len(tail))
        return tail

    def _reap(self, timeout: float = 2.0) -> None:
        proc, self._proc = self._proc, None
        self._sent.clear()
        self._sent_bytes = 0
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    # -- writing ------------------------------------------------------------------------------
    def _write(self, proc: subprocess.Popen, data: bytes, resent: bool) -> None:
        stdin = proc.stdin
        assert stdin is not None
        view = memoryview(data)
        while view:
            written = stdin.write(view)
            view = view[written or len(view):] if not self.buffered else view[len(view):]
        self._sent.append([data, resent])
        self._sent_bytes += len(data)
        while self._sent_bytes - len(self._sent[0][0]) > self._pipe_size:
            self._sent_bytes -= len(self._sent.popleft()[0])

    def _requeue(self, unread: list[list]) -> list[list]:
        """Unread lines go once more to the next process; a line unread twice is lost."""
        again = []
        for data, resent in unread:
            if resent:
                self._lost += 1
            else:
                again.append([data, True])
                self.resent += 1
        return again

    def _deliver(self, data: bytes) -> None:
        """Write ``data`` to a live process, restarting it (and resending) as needed."""
        pending: list[list] = [[data, False]]  # the new line is always last
        for _attempt in range(3):
            proc = self._proc
            if proc is None or proc.poll() is not None:
                if proc is not None:
                    pending = self._requeue(self._retire()) + pending
                proc = self._start()
            try:
                while pending:
                    self._write(proc, pending[0][0], pending[0][1])
                    pending.pop(0)
                return
            except (BrokenPipeError, ConnectionResetError):
                pending = self._requeue(self._retire(kill=True)) + pending
        self._lost += len(pending) - 1  # resent lines; the new one fails with the raise
        raise BrokenPipeError(f"program {self.argv[0]} keeps closing its input")

    def emit(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        if not self.keep_alive:
            proc = self._start()
            try:
                self._write(proc, data, False)
                if self.buffered:
                    proc.stdin.flush()
            finally:
                self._reap()
            return
        self._deliver(data)

    def flush(self) -> None:
        proc = self._proc
        if self.buffered and proc is not None and proc.stdin is not None and proc.poll() is None:
            try:
                proc.stdin.flush()
            except OSError:
                pass

    def take_lost(self) -> int:
        lost, self._lost = self._lost, 0
        return lost

    def reopen(self) -> None:
        self.close()
        if self.keep_alive:
            self._start()

    def close(self) -> None:
        """Give the program ``drain_timeout`` s to read what is in the pipe, then end it."""
        proc = self._proc
        if proc is None:
            return
        self.flush()
        deadline = time.monotonic() + self.drain_timeout
        while proc.poll() is None and self._unread(proc) and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is not None:
            self._lost += len(self._unread_lines(proc))
        self._reap(self.drain_timeout)
