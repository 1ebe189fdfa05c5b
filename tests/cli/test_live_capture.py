"""`falcolib capture -w` writes live events that `sysdig -r` and `falcolib events` read alike."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

pytestmark = [pytest.mark.live, pytest.mark.oracle]
FMT = "%evt.num %evt.rawtime %thread.tid %evt.type %evt.dir %proc.name %fd.name"


class TestCaptureWrite:
    """A capture of a program of ours: its open is in it, and both readers agree on every line."""

    def test_capture_then_read_back(self, tmp_path):
        name = f"cap{uuid.uuid4().hex[:8]}"
        prog = tmp_path / name
        shutil.copy("/bin/cat", prog)
        target = tmp_path / "target.txt"
        target.write_text("x")
        out = tmp_path / "live.scap"
        cap = subprocess.Popen([sys.executable, "-m", "falcolib", "capture", "-w", str(out),
                                "--duration", "25"], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until the probe is attached and sees us
            subprocess.run([str(prog), str(target)], capture_output=True)
            time.sleep(0.5)
            if time.monotonic() > deadline - 12:
                break
        cap.send_signal(2)
        _, err = cap.communicate(timeout=60)
        assert cap.returncode == 0, err
        assert "wrote" in err and "0 dropped" in err
        ours = subprocess.run([sys.executable, "-m", "falcolib", "events", str(out), "-p", FMT],
                              capture_output=True, text=True, check=True).stdout.splitlines()
        theirs = subprocess.run(["sysdig", "-r", str(out), "-p", FMT], capture_output=True,
                                text=True, check=True).stdout.splitlines()
        # every line of the test's own program is identical; of the host's other activity
        # captured meanwhile (thousands of events), at most 1 in 500 may differ. Seen: the
        # pipe reads of a thread that existed before the capture (fixed: the /proc scan
        # now flags such threads as sharing their leader's fds, as libscap does:
        # test_thread_reads_older_pipe) and once an open by a <NA> thread ("" against
        # sysdig's "."), not understood yet
        mine = [x for x in ours if f" {name} " in x]
        assert mine == [x for x in theirs if f" {name} " in x]
        by_num = {x.split(" ", 1)[0]: x for x in ours}
        theirs_by_num = {x.split(" ", 1)[0]: x for x in theirs}
        differ = sorted(n for n in set(by_num) | set(theirs_by_num)
                        if by_num.get(n) != theirs_by_num.get(n))
        assert len(differ) * 500 <= len(theirs), [
            (by_num.get(n), theirs_by_num.get(n)) for n in differ[:10]]
        opens = [x for x in ours if f" {name} " in x and str(target) in x and " openat " in x]
        assert opens, f"no open of {target} by {name} in {len(ours)} lines"


class TestOlderThreads:
    """A thread that existed before the capture shares its process's fds: sysdig reading
    falcolib's capture finds the pipe it reads (libscap flags such threads CLONE_FILES)."""

    def test_thread_reads_older_pipe(self, tmp_path):
        script = tmp_path / "piper.py"
        script.write_text(textwrap.dedent("""
            import os, threading, time
            r, w = os.pipe()
            if os.fork() == 0:
                os.close(r)
                for _ in range(300):   # until killed (a minute at most)
                    os.write(w, b"x")
                    time.sleep(0.2)
                os._exit(0)
            os.close(w)
            def reader():
                print(threading.get_native_id(), flush=True)
                while os.read(r, 10):
                    pass
            t = threading.Thread(target=reader)
            t.start()
            t.join()
        """))
        piper = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
        try:
            tid = piper.stdout.readline().strip()
            out = tmp_path / "live.scap"
            cap = subprocess.run([sys.executable, "-m", "falcolib", "capture", "-w", str(out),
                                  "--duration", "8"], capture_output=True, text=True, timeout=120)
        finally:
            os.killpg(piper.pid, signal.SIGKILL)
            piper.wait(timeout=60)
        assert cap.returncode == 0, cap.stderr
        flt, fmt = f"thread.tid={tid} and evt.type=read", "*%evt.num %evt.dir %fd.name"
        ours = subprocess.run([sys.executable, "-m", "falcolib", "events", str(out), flt, "-p", fmt],
                              capture_output=True, text=True, check=True).stdout.splitlines()
        theirs = subprocess.run(["sysdig", "-r", str(out), flt, "-p", fmt], capture_output=True,
                                text=True, check=True).stdout.splitlines()
        assert ours == theirs
        assert ours and all(ln.split()[2].startswith("pipe:[") for ln in ours), ours[:4]
