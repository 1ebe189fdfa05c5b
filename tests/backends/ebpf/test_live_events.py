"""Live: syscalls performed by the tests come back as exact events and fields."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid

import pytest

pytestmark = pytest.mark.live

PPM_O_RDWR, PPM_O_CREAT, PPM_O_CLOEXEC = 3, 1 << 2, 1 << 12
PPM_PTRACE_ATTACH = 11


def run_child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh python (a known process); it prints one JSON line."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                         check=True, capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout.strip().splitlines()[-1])


COMM = "import json, os; comm = open('/proc/self/comm').read().strip()\n"


class TestFiles:
    """open, rename and chmod of unique paths arrive with exact parameters and fields."""

    def test_open(self, live, tmp_path):
        path = str(tmp_path / f"open-{uuid.uuid4().hex}")
        child = run_child(COMM + textwrap.dedent("""
            import sys
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
            print(json.dumps({"pid": os.getpid(), "fd": fd, "comm": comm}))
            os.close(fd)
        """), path)
        recs = live.wait_for(lambda r: r["evt.type"] == "openat" and r["evt.dir"] == "<"
                             and r["params"]["name"] == path)
        assert len(recs) == 1, live.diag()
        r = recs[0]
        assert r["params"]["fd"] == child["fd"] == r["evt.rawres"] == r["fd.num"]
        assert r["params"]["dirfd"] == -100
        assert r["params"]["flags"] == PPM_O_RDWR | PPM_O_CREAT | PPM_O_CLOEXEC
        assert r["params"]["mode"] == 0o640
        st = os.stat(path)
        assert r["params"]["ino"] == st.st_ino
        assert r["params"]["dev"] == (os.minor(st.st_dev) & 0xff) | (os.major(st.st_dev) << 8) | \
            ((os.minor(st.st_dev) & ~0xff) << 12)
        assert r["fd.name"] == path
        assert r["proc.pid"] == child["pid"] == r["tid"]
        assert r["proc.name"] == child["comm"]
        assert r["user.name"] == "root"
        enters = live.wait_for(lambda e: e["evt.type"] == "openat" and e["evt.dir"] == ">"
                               and e["params"]["name"] == path)
        assert len(enters) == 1 and enters[0]["ts"] <= r["ts"]

    def test_rename(self, live, tmp_path):
        old = str(tmp_path / f"old-{uuid.uuid4().hex}")
        new = old.replace("old-", "new-")
        open(old, "w").close()
        child = run_child(COMM + "import sys; os.rename(sys.argv[1], sys.argv[2]); "
                          "print(json.dumps({'pid': os.getpid()}))", old, new)
        recs = live.wait_for(lambda r: r["evt.type"] in ("rename", "renameat", "renameat2")
                             and r["evt.dir"] == "<" and r["params"]["oldpath"] == old)
        assert len(recs) == 1
        r = recs[0]
        assert r["params"]["newpath"] == new
        assert r["params"]["res"] == 0 and r["evt.res"] == "SUCCESS"
        assert r["proc.pid"] == child["pid"]

    def test_chmod(self, live, tmp_path):
        path = str(tmp_path / f"chmod-{uuid.uuid4().hex}")
        open(path, "w").close()
        child = run_child(COMM + "import sys; os.chmod(sys.argv[1], 0o4751); "
                          "print(json.dumps({'pid': os.getpid()}))", path)
        recs = live.wait_for(lambda r: r["evt.type"] in ("chmod", "fchmodat") and r["evt.dir"] == "<"
                             and r["params"]["filename"] == path)
        assert len(recs) == 1
        r = recs[0]
        assert r["params"]["mode"] == 0o4751
        assert r["params"]["res"] == 0
        assert r["proc.pid"] == child["pid"]

    def test_failed_open_keeps_errno(self, live, tmp_path):
        path = str(tmp_path / f"missing-{uuid.uuid4().hex}" / "x")
        run_child(COMM + textwrap.dedent("""
            import sys
            try:
                os.open(sys.argv[1], os.O_RDONLY)
            except FileNotFoundError:
                pass
            print(json.dumps({}))
        """), path)
        recs = live.wait_for(lambda r: r["evt.type"] == "openat" and r["evt.dir"] == "<"
                             and r["params"]["name"] == path)
        assert len(recs) == 1, live.diag()
        assert recs[0]["evt.rawres"] == -2 and recs[0]["evt.res"] == "ENOENT"


class TestProcesses:
    """execve under a known parent carries exe, args, ids; ptrace carries request and target."""

    def test_execve(self, live):
        token = f"tok-{uuid.uuid4().hex[:12]}"
        child = run_child(COMM + textwrap.dedent("""
            import sys
            pid = os.fork()
            if pid == 0:
                os.execv("/bin/echo", ["echo", sys.argv[1], "second arg"])
            os.waitpid(pid, 0)
            print(json.dumps({"pid": os.getpid(), "child": pid, "comm": comm,
                              "cwd": os.getcwd()}))
        """), token)
        recs = live.wait_for(lambda r: r["evt.type"] == "execve" and r["evt.dir"] == "<"
                             and token.encode() in r["params"]["args"] and r["params"]["comm"] == "echo")
        assert len(recs) == 1, live.diag()
        r = recs[0]
        p = r["params"]
        assert p["res"] == 0
        assert p["exe"] == "echo"
        assert p["tid"] == p["pid"] == child["child"] == r["tid"]
        assert p["ptid"] == child["pid"]
        assert p["comm"] == "echo"
        assert p["cwd"] == child["cwd"]
        assert p["uid"] == 0 and p["loginuid"] in (0, 0xFFFFFFFF)
        assert p["trusted_exepath"] == os.path.realpath("/bin/echo")
        assert p["exe_ino"] == os.stat("/bin/echo").st_ino
        assert p["args"] == f"{token}\0second arg\0".encode()
        cgroups = p["cgroups"].rstrip(b"\0").split(b"\0")
        assert {c.split(b"=")[0] for c in cgroups} >= {b"cpu", b"memory", b"pids"}
        assert p["env"].startswith(b"") and b"PATH=" in p["env"]
        assert r["proc.name"] == "echo"
        assert r["proc.pname"] == child["comm"]
        assert r["proc.cmdline"] == f"echo {token} second arg"
        assert r["proc.pid"] == child["child"] and r["proc.ppid"] == child["pid"]
        assert r["user.name"] == "root"
        enter = live.wait_for(lambda e: e["evt.type"] == "execve" and e["evt.dir"] == ">"
                              and e["tid"] == child["child"] and e["params"]["filename"] == "/bin/echo")
        assert len(enter) == 1

    def test_clone_child_and_parent(self, live):
        child = run_child(COMM + textwrap.dedent("""
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            os.waitpid(pid, 0)
            print(json.dumps({"pid": os.getpid(), "child": pid}))
        """))
        recs = live.wait_for(lambda r: r["evt.type"] == "clone" and r["evt.dir"] == "<"
                             and r["params"]["pid"] in (child["pid"], child["child"]), count=2)
        by_res = {r["params"]["res"]: r for r in recs}
        assert len(recs) == 2, live.diag()
        assert set(by_res) == {0, child["child"]}
        assert by_res[0]["params"]["tid"] == child["child"]
        assert by_res[0]["params"]["ptid"] == child["pid"]
        exits = live.wait_for(lambda r: r["evt.type"] == "procexit" and r["tid"] == child["child"])
        assert len(exits) == 1 and exits[0]["params"]["ret"] == 7

    def test_ptrace_attach(self, live):
        child = run_child(COMM + textwrap.dedent("""
            import ctypes, signal, time
            libc = ctypes.CDLL(None, use_errno=True)
            target = os.fork()
            if target == 0:
                time.sleep(30)
                os._exit(0)
            res = libc.ptrace(16, target, None, None)  # PTRACE_ATTACH
            os.waitpid(target, 0)
            libc.ptrace(17, target, None, None)        # PTRACE_DETACH
            os.kill(target, signal.SIGKILL)
            os.waitpid(target, 0)
            print(json.dumps({"pid": os.getpid(), "target": target, "res": res}))
        """))
        assert child["res"] == 0
        recs = live.wait_for(lambda r: r["evt.type"] == "ptrace" and r["evt.dir"] == "<"
                             and r["proc.pid"] == child["pid"], count=2)
        attach = [r for r in recs if r["params"]["request"] == PPM_PTRACE_ATTACH]
        assert len(attach) == 1
        assert attach[0]["params"]["pid"] == child["target"]
        assert attach[0]["params"]["res"] == 0


class TestNetwork:
    """connect/accept to a loopback listener carry the exact tuple."""

    def test_connect_and_accept(self, live):
        child = run_child(COMM + textwrap.dedent("""
            import socket
            srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
            cli = socket.socket(); cli.connect(srv.getsockname())
            conn, _ = srv.accept()
            print(json.dumps({"pid": os.getpid(), "port": srv.getsockname()[1],
                              "cport": cli.getsockname()[1], "clifd": cli.fileno(),
                              "connfd": conn.fileno()}))
        """))
        recs = live.wait_for(lambda r: r["evt.type"] == "connect" and r["evt.dir"] == "<"
                             and r["proc.pid"] == child["pid"])
        assert len(recs) == 1, live.diag()
        r = recs[0]
        assert r["params"]["res"] == 0
        assert r["params"]["fd"] == child["clifd"] == r["fd.num"]
        assert r["fd.cip"] == "127.0.0.1" and r["fd.cport"] == child["cport"]
        assert r["fd.sip"] == "127.0.0.1" and r["fd.sport"] == child["port"]
        assert r["fd.name"] == f"127.0.0.1:{child['cport']}->127.0.0.1:{child['port']}"
        acc = live.wait_for(lambda a: a["evt.type"] == "accept" and a["evt.dir"] == "<"
                            and a["proc.pid"] == child["pid"])
        assert len(acc) == 1
        assert acc[0]["params"]["fd"] == child["connfd"]
        assert acc[0]["fd.sport"] == child["port"] and acc[0]["fd.cport"] == child["cport"]
        listen = live.wait_for(lambda a: a["evt.type"] == "listen" and a["evt.dir"] == "<"
                               and a["proc.pid"] == child["pid"])
        assert len(listen) == 1 and listen[0]["params"]["backlog"] == 1

    @pytest.mark.parametrize("family,host", [("AF_INET", "127.0.0.1"), ("AF_INET6", "::1")])
    def test_unconnected_udp_names_the_peer(self, live, family, host):
        """sendto/sendmsg on an unconnected UDP socket name their destination, recvfrom/
        recvmsg their source (the call's address, as the libs drivers): no ':0' peer."""
        child = run_child(COMM + textwrap.dedent(f"""
            import socket
            srv = socket.socket(socket.{family}, socket.SOCK_DGRAM); srv.bind(({host!r}, 0))
            cli = socket.socket(socket.{family}, socket.SOCK_DGRAM)
            cli.sendto(b"one", srv.getsockname()[:2])
            srv.recvfrom(16)
            cli.sendmsg([b"two"], [], 0, srv.getsockname()[:2])
            srv.recvmsg(16)
            print(json.dumps({{"pid": os.getpid(), "sport": srv.getsockname()[1],
                              "cport": cli.getsockname()[1]}}))
        """))
        client = f"{host}:{child['cport']}"
        server = f"{host}:{child['sport']}"
        for name in ("sendto", "recvfrom", "sendmsg", "recvmsg"):
            recs = live.wait_for(lambda r: r["evt.type"] == name and r["evt.dir"] == "<"
                                 and r["proc.pid"] == child["pid"])
            assert len(recs) == 1, live.diag()
            assert recs[0]["fd.name"] == f"{client}->{server}", name


class TestSnapshot:
    """the start-up /proc scan knows this process, its fds and the host's users."""

    def test_self_in_snapshot(self, live):
        snap = live.backend.snapshot()
        me = [p for p in snap.processes if p.tid == os.getpid()]
        assert len(me) == 1
        assert me[0].pid == os.getpid() and me[0].ptid == os.getppid()
        assert me[0].exepath == os.path.realpath(sys.executable)
        assert any(f.fd == 0 for f in me[0].fds)
        assert any(u.name == "root" and u.uid == 0 for u in snap.users)
        assert any(g.name == "root" and g.gid == 0 for g in snap.groups)

    def test_listening_socket_in_scan(self):
        from falcolib_ebpf.procscan import SCAP_FD_IPV4_SERVSOCK, scan_processes
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        try:
            me = [p for p in scan_processes() if p.tid == os.getpid()][0]
            fd = [f for f in me.fds if f.fd == srv.fileno()]
            assert len(fd) == 1
            assert fd[0].type == SCAP_FD_IPV4_SERVSOCK
            assert (fd[0].sip, fd[0].sport) == ("127.0.0.1", srv.getsockname()[1])
        finally:
            srv.close()
