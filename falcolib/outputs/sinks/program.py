"""program_output: alerts written, one line each, to a program's standard input.

The program is an argv list run without a shell (a string is split with shlex rules, so
pipes and redirections are not interpreted: wrap them in a script of your own). With
``keep_alive`` (falcolib's default) it is started once and restarted when it dies, with a
growing pause between restarts (0.1 s doubling up to 5 s) so a program that exits at once
cannot turn into a fork loop; without it, as Falco, one process per alert.

An alert whose write fails because the program died is resent once to the restarted
program; one whose write succeeds into the pipe but is never read (the program died with
data unread) cannot be seen from here and counts as delivered.
"""
from __future__ import annotations

import logging
import shlex
import subprocess
import time
from typing import Sequence

from falcolib.outputs.sinks.base import BaseSink

__all__ = ["ProgramSink", "program_argv"]

log = logging.getLogger("falcolib.outputs")


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
                 max_backoff: float = 5.0) -> None:
        self.argv = program_argv(program)
        self.keep_alive = keep_alive
        self.buffered = buffered
        self.env = env
        self.max_backoff = max_backoff
        self._proc: subprocess.Popen | None = None
        self._backoff = 0.0
        self._last_start = 0.0
        self.starts = 0

    def _start(self) -> subprocess.Popen:
        if self._backoff:
            wait = self._last_start + self._backoff - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_start = time.monotonic()
        self.starts += 1
        self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, env=self.env,
                                      close_fds=True, shell=False)
        return self._proc

    def _running(self) -> subprocess.Popen:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            return proc
        if proc is not None:
            log.warning("output program: %s exited with %s, restarting", self.argv[0],
                        proc.returncode)
            self._reap()
            # Only a program that died soon after its start makes the next start wait.
            quick = time.monotonic() - self._last_start < 1.0
            self._backoff = min(self.max_backoff, max(0.1, self._backoff * 2)) if quick else 0.0
        return self._start()

    def _send(self, proc: subprocess.Popen, data: bytes) -> None:
        assert proc.stdin is not None
        proc.stdin.write(data)
        if not self.buffered:
            proc.stdin.flush()

    def emit(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        if not self.keep_alive:
            proc = self._start()
            try:
                self._send(proc, data)
            finally:
                self._reap()
            return
        try:
            self._send(self._running(), data)
        except (BrokenPipeError, ValueError, OSError):
            self._send(self._running(), data)

    def flush(self) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None and proc.poll() is None:
            try:
                proc.stdin.flush()
            except OSError:
                pass

    def _reap(self, timeout: float = 2.0) -> None:
        proc, self._proc = self._proc, None
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

    def reopen(self) -> None:
        self._reap()
        if self.keep_alive:
            self._start()

    def close(self) -> None:
        self._reap()
