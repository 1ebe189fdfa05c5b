"""Live eBPF fixtures: one running backend whose events go through the state engine.

``live`` is session-scoped (compiling and attaching the probe takes seconds).
A thread feeds every event to ``falcolib.state.State`` in order and keeps,
for events of the syscalls the tests perform, the fields the assertions
read, computed when the event is processed (as a rule would see them).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque

import pytest

from falcolib.errors import BackendUnavailable

FIELDS = ("evt.type", "evt.dir", "evt.res", "evt.rawres", "proc.name", "proc.pname", "proc.cmdline",
          "proc.pid", "proc.ppid", "proc.exe", "fd.name", "fd.num", "fd.sip", "fd.sport", "fd.cip",
          "fd.cport", "user.name", "container.id")
RECORDED = ("openat", "open", "execve", "connect", "accept", "rename", "renameat", "renameat2",
            "chmod", "fchmodat", "ptrace", "socket", "listen", "bind", "unlinkat", "clone", "procexit",
            "sendto", "recvfrom", "sendmsg", "recvmsg")


def require_live():
    """Skip (or fail in CI, FALCOLIB_REQUIRE_LIVE=1) when live tests cannot run here."""
    if os.geteuid() != 0:
        msg = "live eBPF tests need root"
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


class LiveRecorder:
    """A running EbpfBackend, its State, and the recorded field values."""

    def __init__(self, backend):
        from falcolib.decode import Event
        from falcolib.decode.table import types_named
        from falcolib.fields import resolve
        from falcolib.state import State

        self.backend = backend
        self.state = State(backend.snapshot())
        self._event = Event
        self._getters = {f: resolve(f) for f in FIELDS}
        self._types = frozenset().union(*(types_named(n) for n in RECORDED))
        self.records: deque = deque(maxlen=200_000)
        self._root = os.getpid()
        self.errors: list[str] = []
        self.processed = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for raw in self.backend:
            if raw is None:  # idle tick
                continue
            try:
                evt = self._event(raw)
                view = self.state.process(evt)
                self.processed += 1
                if raw.type in self._types and self._watched(view.thread):
                    rec = {f: _safe(g, view) for f, g in self._getters.items()}
                    rec["params"] = {p.name: evt.value(i) for i, p in enumerate(evt.info.params)
                                     if i < evt.nparams}
                    rec["tid"] = raw.tid
                    rec["ts"] = raw.ts
                    with self._lock:
                        self.records.append(rec)
            except Exception as exc:  # noqa: BLE001 - reported by the tests
                if len(self.errors) < 20:
                    self.errors.append(f"{type(exc).__name__}: {exc}")

    def _watched(self, thread) -> bool:
        """Events of this test run's descendants or of containers: the rest of a shared
        machine's activity goes through the state engine but is not recorded."""
        if thread is None:
            return False
        if thread.container_id:
            return True
        threads = self.state.threads
        for _ in range(8):
            if thread.pid == self._root:
                return True
            thread = threads.get(thread.ptid)
            if thread is None:
                return False
        return False

    def diag(self) -> str:
        st = self.backend.stats()
        return (f"processed={self.processed} read={st.events_read} dropped={st.dropped} "
                f"extra={st.extra} errors={self.errors[:3]}")

    def wait_for(self, pred, timeout: float = 30.0, count: int = 1) -> list[dict]:
        """Records matching ``pred``, waiting until ``count`` are there."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [r for r in self.records if _try(pred, r)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def _safe(getter, view):
    try:
        return getter(view)
    except Exception as exc:  # noqa: BLE001
        return f"<error {type(exc).__name__}: {exc}>"


def _try(pred, rec) -> bool:
    try:
        return bool(pred(rec))
    except (KeyError, TypeError, AttributeError):
        return False


@pytest.fixture(scope="session")
def live():
    """The session's running backend with its recorder."""
    require_live()
    from falcolib_ebpf import EbpfBackend

    from falcolib.decode.table import types_named

    # what the tests perform plus what the state engine needs for them; the
    # busy read/write family of a shared machine stays out of the ring
    names = RECORDED + ("dup", "fork", "vfork", "clone3", "execveat", "accept4",
                        "chdir", "fchdir", "setuid", "setgid", "setresuid", "setresgid")
    types = frozenset().union(*(types_named(n) for n in names))
    backend = EbpfBackend(types, drop_failed=False)
    try:
        backend.__enter__()
    except BackendUnavailable as exc:
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    rec = LiveRecorder(backend)
    yield rec
    backend.stop()
    backend.__exit__(None, None, None)
