"""Compile and load the probe in a short-lived child, so falcolib never maps bcc or LLVM.

Importing bcc's bindings maps libbcc with LLVM and clang into the process
(~78 MB of RSS, ~150 MB once a program is compiled), which a monitor
running for days should not carry. ``load_probe`` runs
``python -m falcolib_ebpf.loader`` with one end of a socket pair; the child
imports bcc, compiles the source, loads every named function as a
tracepoint program, sends the program and map file descriptors back
(SCM_RIGHTS, in batches under the kernel's per-message limit) and exits.
The kernel objects live on through the descriptors the parent received.

Messages are JSON over an AF_UNIX SOCK_SEQPACKET pair:

* parent -> child: ``{"length": N, "cflags": [...], "functions": [...]}``,
  then the source in chunks until N bytes came;
* child -> parent: ``{"error": "...", "kind": "bcc|compile|load"}``, or
  ``{"programs": [...], "maps": {name: {type, key_size, value_size,
  max_entries}}}``, then ``{"fds": n}`` messages carrying the descriptors
  of the programs and then of the maps, in that order, then ``{"done": true,
  "peak_rss_kb": K}`` (the child's VmHWM: wait4's ru_maxrss would also count
  the parent's RSS, which a vforked child inherits in it).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time

import attrs

CHUNK = 32768
FDS_PER_MESSAGE = 200          # SCM_MAX_FD is 253
MAX_MESSAGE = 1 << 20
DEFAULT_TIMEOUT = 300.0        # compiling takes ~3 s alone; a loaded 2-core host is slower


class LoadFailed(Exception):
    """The child could not load the probe. ``kind``: "bcc" (bindings missing), "compile",
    "load" (the verifier refused a program), "crash" or "timeout"."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


@attrs.frozen
class MapInfo:
    fd: int
    type: int
    key_size: int
    value_size: int
    max_entries: int


@attrs.frozen
class LoadedProbe:
    """File descriptors of the loaded programs and maps (the caller owns and closes them)."""
    programs: dict[str, int]
    maps: dict[str, MapInfo]
    child_seconds: float       # spawn to the child's last message
    child_maxrss_kb: int       # the child's peak RSS

    def fds(self) -> list[int]:
        return list(self.programs.values()) + [m.fd for m in self.maps.values()]


# -- parent side ---------------------------------------------------------------
def load_probe(source: str, cflags: list[str], functions: list[str],
               timeout: float = DEFAULT_TIMEOUT) -> LoadedProbe:
    """Compile ``source`` and load ``functions`` in a child process; raise LoadFailed."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    errlog = tempfile.TemporaryFile()
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    started = time.monotonic()
    fds: list[int] = []
    try:
        with theirs:
            proc = subprocess.Popen(
                [sys.executable, "-m", "falcolib_ebpf.loader", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=errlog, env=env, close_fds=True)
        try:
            meta, fds = _converse(ours, proc, errlog, source, cflags, functions, started + timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        seconds = time.monotonic() - started
        maxrss = meta["peak_rss_kb"] or _reap(proc, 10.0)  # wait4's figure as a fallback only
        if proc.returncode is None:
            _reap(proc, 10.0)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    finally:
        ours.close()
        errlog.close()
    progs = meta["programs"]
    programs = dict(zip(progs, fds))
    maps = {name: MapInfo(fd, **info) for (name, info), fd in zip(meta["maps"].items(), fds[len(progs):])}
    return LoadedProbe(programs, maps, seconds, maxrss)


def _converse(sock, proc, errlog, source, cflags, functions, deadline):
    data = source.encode()
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        _send_json(sock, {"length": len(data), "cflags": list(cflags), "functions": list(functions)})
        for pos in range(0, len(data), CHUNK):
            sock.sendall(data[pos:pos + CHUNK])
    except socket.timeout:
        raise LoadFailed("timeout", "the eBPF loader did not take the probe's source in time") from None
    except OSError:
        pass  # the child died first: its exit is reported below
    meta = None
    fds: list[int] = []
    try:
        while True:
            msg, got = _recv(sock, proc, errlog, deadline)
            fds.extend(got)
            if "error" in msg:
                raise LoadFailed(msg.get("kind", "load"), _with_diagnostic(msg["error"], errlog))
            if "programs" in msg:
                meta = msg
            elif msg.get("done"):
                peak = msg.get("peak_rss_kb", 0)
                break
        if meta is None or len(fds) != len(meta["programs"]) + len(meta["maps"]):
            raise LoadFailed("crash", f"the eBPF loader sent {len(fds)} descriptors, not the "
                                      "expected programs and maps")
        meta = dict(meta, peak_rss_kb=peak)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return meta, fds


def _recv(sock, proc, errlog, deadline) -> tuple[dict, list[int]]:
    left = deadline - time.monotonic()
    if left <= 0:
        raise LoadFailed("timeout", "the eBPF loader did not finish in time")
    sock.settimeout(left)
    try:
        data, fds, flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, FDS_PER_MESSAGE)
    except socket.timeout:
        raise LoadFailed("timeout", "the eBPF loader did not answer in time") from None
    except ConnectionResetError:   # it died with our request unread
        data, fds, flags = b"", [], 0
    if not data:
        for fd in fds:
            os.close(fd)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            code = None
        how = (f"was killed by signal {-code}" if code is not None and code < 0
               else f"exited with status {code}")
        raise LoadFailed("crash", _with_diagnostic(f"the eBPF loader {how} before answering", errlog))
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        raise LoadFailed("crash", "the eBPF loader's answer was truncated")
    try:
        return json.loads(data), list(fds)
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise LoadFailed("crash", "the eBPF loader's answer is not JSON") from None


def _with_diagnostic(message: str, errlog) -> str:
    """The message plus the line of the child's output that says why: clang's first error,
    else the verifier's verdict (the line before its "processed N insns"), else the last."""
    errlog.seek(0)
    text = errlog.read(1 << 20).decode(errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    why = next((ln for ln in lines if "error:" in ln), None)
    if why is None:
        why = next((lines[i - 1] for i, ln in enumerate(lines) if i and ln.startswith("processed ")),
                   lines[-1] if lines else "")
    why = why[:300]
    return f"{message}: {why}" if why and why not in message else message


def _reap(proc, timeout: float) -> int:
    """Wait for the child (killing it after ``timeout``); its peak RSS in KiB, from wait4."""
    end = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > end:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss


def _send_json(sock, obj, fds=()) -> None:
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


# -- child side ----------------------------------------------------------------
def _child(sock) -> None:
    head = json.loads(sock.recv(MAX_MESSAGE))
    parts, got = [], 0
    while got < head["length"]:
        part = sock.recv(CHUNK)
        if not part:
            return
        parts.append(part)
        got += len(part)
    source = b"".join(parts)
    from falcolib_ebpf.bccimport import import_bcc
    try:
        bcc = import_bcc()
    except (ImportError, OSError) as exc:
        _send_json(sock, {"error": f"bcc is not available ({exc})", "kind": "bcc"})
        return
    try:
        bpf = bcc.BPF(text=source, cflags=head["cflags"])
    except Exception as exc:  # noqa: BLE001 - bcc raises bare Exception
        _send_json(sock, {"error": _first_line(exc), "kind": "compile"})
        return
    programs = []
    try:
        for name in head["functions"]:
            programs.append(bpf.load_func(name.encode(), bcc.BPF.TRACEPOINT).fd)
    except Exception as exc:  # noqa: BLE001
        _send_json(sock, {"error": _first_line(exc), "kind": "load"})
        return
    maps, map_fds = _maps(bcc, bpf)
    _send_json(sock, {"programs": head["functions"], "maps": maps})
    every = programs + map_fds
    for pos in range(0, len(every), FDS_PER_MESSAGE):
        batch = every[pos:pos + FDS_PER_MESSAGE]
        _send_json(sock, {"fds": len(batch)}, batch)
    _send_json(sock, {"done": True, "peak_rss_kb": _peak_rss_kb()})


def _peak_rss_kb() -> int:
    try:
        with open("/proc/self/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def _maps(bcc, bpf) -> tuple[dict, list[int]]:
    """Every map of the module: name -> layout, and their fds in the same order."""
    import ctypes as ct
    lib = bcc.libbcc.lib
    sigs = {"bpf_num_tables": (ct.c_size_t, [ct.c_void_p]),
            "bpf_table_name": (ct.c_char_p, [ct.c_void_p, ct.c_size_t]),
            "bpf_table_fd_id": (ct.c_int, [ct.c_void_p, ct.c_size_t]),
            "bpf_table_type_id": (ct.c_int, [ct.c_void_p, ct.c_size_t]),
            "bpf_table_key_size_id": (ct.c_size_t, [ct.c_void_p, ct.c_size_t]),
            "bpf_table_leaf_size_id": (ct.c_size_t, [ct.c_void_p, ct.c_size_t]),
            "bpf_table_max_entries_id": (ct.c_size_t, [ct.c_void_p, ct.c_size_t])}
    for fn, (restype, argtypes) in sigs.items():
        getattr(lib, fn).restype = restype
        getattr(lib, fn).argtypes = argtypes
    maps, fds = {}, []
    for i in range(lib.bpf_num_tables(bpf.module)):
        name = lib.bpf_table_name(bpf.module, i).decode()
        maps[name] = {"type": lib.bpf_table_type_id(bpf.module, i),
                      "key_size": lib.bpf_table_key_size_id(bpf.module, i),
                      "value_size": lib.bpf_table_leaf_size_id(bpf.module, i),
                      "max_entries": lib.bpf_table_max_entries_id(bpf.module, i)}
        fds.append(lib.bpf_table_fd_id(bpf.module, i))
    return maps, fds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    try:
        _child(sock)
    except Exception as exc:  # noqa: BLE001 - the parent gets one line, never a traceback
        try:
            _send_json(sock, {"error": f"eBPF loader failed: {_first_line(exc)}", "kind": "crash"})
        except OSError:
            pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip bcc's teardown: the parent holds the descriptors


if __name__ == "__main__":
    sys.exit(main(sys.argv))
