"""Tools for the live attacks on Falco's incubating and sandbox rules (test_live_official_more*).

A rules file tuning the official ones as a Falco user would (disabled rules enabled, template
lists filled, one sentinel rule), ``Range``: a running monitor plus a work directory where
attacks are staged and their alerts awaited, and the container image the container attacks
run in (static busybox plus ``xrun``, a small static program that execs commands for real:
busybox's own shell runs its applets through /proc/self/exe, so they would all be named
``exe``).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

RULES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "rules").resolve()
OFFICIAL = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
PODMAN = ["podman", "run", "--rm", "--runtime", "/usr/sbin/runc", "--ulimit", "nofile=1024:1024",
          "--ulimit", "nproc=1024:1024", "--network", "none"]
API_SOCKET = "/run/podman/podman.sock"

# the sandbox rules shipped with enabled: false
DISABLED = (
    "Unexpected inbound connection source", "Read Shell Configuration File",
    "Interpreted procs inbound network activity", "Interpreted procs outbound network activity",
    "Unexpected K8s NodePort Connection", "Create Hidden Files or Directories",
    "Detect outbound connections to common miner pool ports", "Container Drift Detected (chmod)",
    "Container Drift Detected (open+create)", "Container Run as Root User",
    "Java Process Class File Download", "Modify Container Entrypoint",
)
SENTINEL = "falcolib test sentinel"
SENTINEL_ARG = "falcolib-sentinel-"
K8S_NS = "falcolib-ns"

TUNE = "".join(f"- rule: {r}\n  enabled: true\n  override:\n    enabled: replace\n" for r in DISABLED) + f"""\
- list: namespace_scope_network_only_subnet
  items: [{K8S_NS}]
  override:
    items: append
- macro: allowed_containers
  condition: (container.image.repository in (docker.io/library/allowed-only))
  override:
    condition: replace
- rule: {SENTINEL}
  desc: marks the end of one attack (every earlier event has been seen)
  condition: evt.type in (execve, execveat) and proc.cmdline startswith "true {SENTINEL_ARG}"
  output: sentinel %proc.cmdline
  priority: DEBUG
"""

# runs in a private mount namespace, with a tmpfs over each directory of argv[1] (comma
# separated), then each operation op:path[:path2] of argv[2:]: the host's files stay untouched
FS_SCRIPT = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x20000) or libc.mount(b"none", b"/", None, 0x4000 | 0x40000, None):
    sys.exit("unshare/mount: errno %d" % ctypes.get_errno())
for d in sys.argv[1].split(","):
    if libc.mount(b"tmpfs", d.encode(), b"tmpfs", 0, None):
        sys.exit("tmpfs on %s: errno %d" % (d, ctypes.get_errno()))
root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
for op in sys.argv[2:]:
    kind, _, rest = op.partition(":")
    if kind == "mkdir":
        os.makedirs(rest)
    elif kind == "mkdirat":
        os.mkdir(rest, dir_fd=root)
    elif kind == "write":
        os.close(os.open(rest, os.O_WRONLY | os.O_CREAT, 0o644))
    elif kind == "creat":
        os.close(libc.syscall(85, rest.encode(), 0o644))
    elif kind == "openat2":   # struct open_how {flags, mode, resolve}
        how = (ctypes.c_uint64 * 3)(os.O_WRONLY | os.O_CREAT, 0o644, 0)
        os.close(libc.syscall(437, -100, rest.encode(), how, 24))
    elif kind == "read":
        os.close(os.open(rest, os.O_RDONLY))
    elif kind == "listdir":
        os.listdir(rest)
    elif kind == "rename":
        os.rename(*rest.split(":"))
    elif kind == "renameat2":
        a, b = rest.split(":")
        assert libc.syscall(316, root, a.encode(), root, b.encode(), 0) == 0
    elif kind == "unlink":
        os.unlink(rest)
    elif kind == "unlinkat":
        os.unlink(rest, dir_fd=root)
    elif kind == "chdir":
        os.chdir(rest)
"""

XRUN_C = r"""
/* xrun CMD ARGS [-- CMD ARGS]...: each command by a real execve of its path, in turn.
   xrun -udp IP PORT: connect a UDP socket to IP:PORT. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "-udp") == 0) {
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)atoi(argv[3]));
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        return connect(s, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : 1;
    }
    for (int i = 1; i < argc;) {
        int j = i;
        while (j < argc && strcmp(argv[j], "--") != 0)
            j++;
        argv[j] = NULL;
        pid_t p = fork();
        if (p == 0) {
            execv(argv[i], &argv[i]);
            _exit(127);
        }
        waitpid(p, NULL, 0);
        i = j + 1;
    }
    return 0;
}
"""
APPLETS = ("sh", "cat", "nc", "wget", "base64", "tar", "mount", "unshare", "ip", "chmod", "cp",
           "true", "rsync", "apk", "kubectl")  # the last three are not applets: exec only
NPM_SCRIPT = "#!/bin/sh\n/bin/xrun /bin/nc -w 1 127.0.0.1 9\n"


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, timeout=60, **kw)


def marker() -> str:
    """A fresh token that names one attack in its alert."""
    return uuid.uuid4().hex[:10]


@contextlib.contextmanager
def live_range(work: Path, monitor_class):
    """A monitor of the official files + TUNE (rule_matching=all), caught up, then stopped."""
    tune = work / "tune.yaml"
    tune.write_text(TUNE)
    mon = monitor_class(*(RULES / f for f in OFFICIAL), tune, extra=("--set", "rule_matching=all"))
    rng = Range(mon, work)
    rng.sync()
    yield rng
    err = mon.stop()
    assert mon.proc.returncode == 0, err


@contextlib.contextmanager
def podman_api():
    """The podman API service (container name, image, labels, mounts, privilege) while in
    the block, unless one already listens."""
    if not shutil.which("podman") or os.path.exists(API_SOCKET):
        yield
        return
    proc = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{API_SOCKET}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if os.path.exists(API_SOCKET):
            break
        time.sleep(0.1)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


class Range:
    """A monitor and a work directory: stage an attack, then collect the alerts it raised."""

    def __init__(self, monitor, work: Path):
        self.monitor = monitor
        self.work = work

    def named(self, name: str, target: str = "/bin/true") -> str:
        """A copy of ``target`` called ``name`` (its process is named so)."""
        path = self.work / "bin" / name
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            shutil.copy(target, path)
        return str(path)

    def python_as(self, name: str) -> str:
        """This Python under the name ``name`` (a symlink: comm is the link's name)."""
        path = self.work / "py" / name
        if not path.is_symlink():
            path.parent.mkdir(exist_ok=True)
            os.symlink(sys.executable, path)
        return str(path)

    def in_tmpfs(self, dirs: str, *ops: str) -> None:
        """FS_SCRIPT's operations, by a process named fsprobe, below tmpfs-covered ``dirs``."""
        out = run([self.python_as("fsprobe"), "-c", FS_SCRIPT, dirs, *ops])
        assert out.returncode == 0, out.stderr.decode()

    def sync(self, timeout: float = 90.0) -> None:
        """Wait until an exec made now has been seen: every earlier event has been too."""
        arg = SENTINEL_ARG + uuid.uuid4().hex[:8]
        self.monitor.wait_for(SENTINEL, lambda: run(["/bin/true", arg]), timeout=timeout,
                              where=lambda f: f.get("proc.cmdline") == f"true {arg}")
        time.sleep(0.3)   # events of another CPU's buffer

    def alerts(self, rule: str | None, where) -> list[dict]:
        """The alerts so far of ``rule`` (None: any rule) whose output fields satisfy ``where``."""
        return [a for a in list(self.monitor.alerts)
                if rule in (None, a["rule"]) and where(a["output_fields"])]

    def expect(self, rule: str, action, where) -> dict | None:
        """The first alert of ``rule`` satisfying ``where`` after ``action`` (tried twice), or None."""
        for _ in range(2):
            action()
            self.sync()
            hits = self.alerts(rule, where)
            if hits:
                return hits[0]
        return None


def busybox_image(tmp: Path) -> str:
    """A local image: static busybox with APPLETS, xrun and an npm script (built once per content)."""
    digest = hashlib.sha256((XRUN_C + NPM_SCRIPT + " ".join(APPLETS)).encode()).hexdigest()[:12]
    image = f"localhost/falcolib-busybox:more-{digest}"
    if run(["podman", "image", "exists", image]).returncode == 0:
        return image
    root = tmp / "rootfs"
    for d in ("bin", "etc", "tmp", "mnt"):
        (root / d).mkdir(parents=True)
    shutil.copy(shutil.which("busybox") or "/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    src = tmp / "xrun.c"
    src.write_text(XRUN_C)
    out = run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "xrun"), str(src)])
    assert out.returncode == 0, out.stderr.decode()
    (root / "bin" / "npm").write_text(NPM_SCRIPT)
    (root / "bin" / "npm").chmod(0o755)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    tar = tmp / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname=".")
    subprocess.run(["podman", "import", "-q", str(tar), image], check=True, capture_output=True,
                   timeout=120)
    return image


def container(image: str, cidfile: Path, *argv: str, opts: tuple[str, ...] = ()) -> str:
    """Run one container, named like its cidfile, to completion; its short id."""
    run([*PODMAN, "--cidfile", str(cidfile), "--name", cidfile.name, *opts, image, *argv])
    return cidfile.read_text().strip()[:12]
