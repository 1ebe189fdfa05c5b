"""Live: the probe is compiled and loaded in a child; the falcolib process never maps bcc."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import require_live

pytestmark = pytest.mark.live

RUNNING = textwrap.dedent("""
    import json, os, subprocess, sys, time
    from falcolib.decode import Event
    from falcolib.decode.table import types_named
    from falcolib_ebpf import EbpfBackend
    path = sys.argv[1]
    b = EbpfBackend(types_named("openat"), drop_failed=False, snapshot=False)
    out = {}
    with b:
        out["mapped"] = sorted({line.split()[-1] for line in open("/proc/self/maps")
                                if any(k in line for k in ("libbcc", "libLLVM", "libclang"))})
        out["modules"] = sorted(m for m in sys.modules if m == "bcc" or m.startswith("bcc."))
        # this process's peak RSS (getrusage's ru_maxrss would include the forking
        # parent's RSS when the parent vforked us)
        out["rss_kb"] = next(int(line.split()[1]) for line in open("/proc/self/status")
                             if line.startswith("VmHWM:"))
        out["hooks_before"] = sorted(b.hooked)
        opener = subprocess.run(["cat", path], capture_output=True)
        time.sleep(0.2)
        seen_before = b.stats().extra["kernel_seen"]
        switched = time.time_ns()
        b.set_event_types(types_named("execve"))
        out["hooks_after"] = sorted(b.hooked)
        execd = subprocess.Popen(["/bin/true", path])
        execd.wait()
        time.sleep(0.2)
        b.stop()
        evs = [Event(r) for r in b if r is not None]
        st = b.stats()
    out["opens_of_path"] = sum(1 for e in evs if e.name == "openat" and e.dir == "<"
                              and e.value("name") == path)
    out["execs_after_switch"] = sorted({e.name for e in evs if e.tid == execd.pid and e.ts > switched})
    out["opens_after_switch"] = sum(1 for e in evs if e.name == "openat" and e.ts > switched + 50_000_000)
    out["seen_before"] = seen_before
    out["records"] = st.extra["kernel_records"]
    out["loader_rss_kb"] = st.extra["loader_max_rss_kb"]
    try:
        out["unreaped"] = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        out["unreaped"] = False
    print(json.dumps(out))
""")


class TestNoBccInProcess:
    """after start-up the backend's process has neither bcc's module nor its libraries."""

    def test_running_backend_without_bcc(self, tmp_path):
        require_live()
        target = tmp_path / "falcolib-loader-test"
        target.write_text("x\n")
        out = subprocess.run([sys.executable, "-c", RUNNING, str(target)], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got["mapped"] == [] and got["modules"] == []
        assert got["rss_kb"] < 150 * 1024                    # issue 5's target (bcc alone ~+78 MB)
        assert got["loader_rss_kb"] > got["rss_kb"] / 2     # the child did carry LLVM
        assert got["unreaped"] is False
        # kernel counters through bpf(2), the ring through mmap
        assert got["seen_before"] > 0 and got["records"] >= got["opens_of_path"] >= 1
        # set_event_types re-hooks with the programs loaded at start
        assert got["hooks_before"] == ["syscalls:sys_exit_openat"]
        assert got["hooks_after"] == ["syscalls:sys_enter_execve", "syscalls:sys_exit_execve"]
        assert got["execs_after_switch"] == ["execve"]
        assert got["opens_after_switch"] == 0


def _load(source: str, functions: list[str], **kw):
    require_live()
    from falcolib_ebpf.loader import load_probe
    return load_probe(source, [], functions, **kw)


def _failure(source: str, functions: list[str], **kw):
    from falcolib_ebpf.loader import LoadFailed
    with pytest.raises(LoadFailed) as info:
        _load(source, functions, **kw)
    assert "\n" not in str(info.value)
    return info.value


class TestLoaderChild:
    """the child hands back every descriptor, or one line saying why it could not."""

    def test_more_descriptors_than_one_message_holds(self):
        names = [f"f{i}" for i in range(300)]   # SCM_RIGHTS carries at most 253 per message
        src = "BPF_ARRAY(settings, u32, 4);\n" + "".join(
            f"int {n}(void *ctx) {{ u32 k = {i % 4}; settings.lookup(&k); return 0; }}\n"
            for i, n in enumerate(names))
        loaded = _load(src, names)
        try:
            assert list(loaded.programs) == names and list(loaded.maps) == ["settings"]
            fds = loaded.fds()
            assert len(set(fds)) == 301
            kinds = [os.readlink(f"/proc/self/fd/{fd}") for fd in fds]
            assert kinds == ["anon_inode:bpf-prog"] * 300 + ["anon_inode:bpf-map"]
            m = loaded.maps["settings"]
            assert (m.type, m.key_size, m.value_size, m.max_entries) == (2, 4, 4, 4)  # ARRAY
            assert loaded.child_maxrss_kb > 0
        finally:
            for fd in loaded.fds():
                os.close(fd)

    def test_compile_error_is_one_line(self):
        err = _failure("int f(void *ctx) { return no_such_symbol_x; }", ["f"])
        assert err.kind == "compile" and "undeclared identifier 'no_such_symbol_x'" in str(err)

    def test_verifier_refusal_says_why(self):
        err = _failure("int f(void *ctx) { volatile int *p = (int *)(long)bpf_get_prandom_u32();"
                       " return *p; }", ["f"])
        assert err.kind == "load" and "invalid mem access" in str(err)

    def test_child_killed(self, tmp_path, monkeypatch):
        # a child that dies before answering (here: killed by itself at start-up)
        (tmp_path / "sitecustomize.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
        monkeypatch.setenv("PYTHONPATH", str(tmp_path))
        err = _failure("int f(void *ctx) { return 0; }", ["f"])
        assert err.kind == "crash" and "killed by signal 9" in str(err)

    def test_timeout_kills_child(self):
        before = _children()
        err = _failure("int f(void *ctx) { return 0; }", ["f"], timeout=0.05)
        assert err.kind == "timeout"
        assert _children() <= before  # killed and reaped: no zombie left


def _children() -> set[int]:
    pid = os.getpid()
    with open(f"/proc/{pid}/task/{pid}/children") as fh:
        return {int(p) for p in fh.read().split()}
