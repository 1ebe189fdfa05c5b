"""Live: processes in a podman container (runc) are attributed to it, by cgroup and by API."""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
import uuid

import pytest

from .conftest import require_live

pytestmark = pytest.mark.live
IMAGE = "localhost/falcolib-busybox:test"
RUN = ["podman", "run", "--runtime", "/usr/sbin/runc", "--ulimit", "nofile=1024:1024",
       "--ulimit", "nproc=1024:1024", "--network", "none"]
API_SOCKET = "/run/podman/podman.sock"


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A busybox-static image imported from a local rootfs tar (no registry)."""
    require_live()
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not shutil.which("podman") or not os.path.exists("/usr/sbin/runc") or not os.path.exists(busybox):
        msg = "podman, runc and busybox-static are needed (scripts/setup-host installs them)"
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    root = tmp_path_factory.mktemp("rootfs")
    (root / "bin").mkdir()
    (root / "etc").mkdir()
    shutil.copy(busybox, root / "bin" / "busybox")
    for applet in ("sh", "cat", "echo", "sleep"):
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    tar = root.parent / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(root, arcname=".")
    subprocess.run(["podman", "import", "-q", str(tar), IMAGE], check=True, capture_output=True,
                   timeout=120)
    return IMAGE


class TestContainerEvents:
    """an execve inside the container carries its cgroup; the state names the container."""

    def test_execve_in_container(self, live, image, tmp_path):
        token = f"/etc/tok-{uuid.uuid4().hex[:10]}"
        cidfile = tmp_path / "cid"
        # the container's command itself (busybox sh would run cat in-process, no execve)
        subprocess.run(RUN + ["--rm", "--cidfile", str(cidfile), image, "/bin/cat", token],
                       capture_output=True, timeout=120)
        cid = cidfile.read_text().strip()
        recs = live.wait_for(lambda r: r["evt.type"] == "execve" and r["evt.dir"] == "<"
                             and r["params"]["comm"] == "cat" and token.encode() in r["params"]["args"])
        assert len(recs) == 1, live.diag()
        r = recs[0]
        cgroups = r["params"]["cgroups"].rstrip(b"\0").split(b"\0")
        assert f"memory=/libpod_parent/libpod-{cid}".encode() in cgroups
        assert r["container.id"] == cid[:12]
        assert r["proc.name"] == "cat" and r["params"]["res"] == 0
        opens = live.wait_for(lambda o: o["evt.type"] == "openat" and o["evt.dir"] == "<"
                              and o["params"]["name"] == token)
        assert len(opens) == 1 and opens[0]["evt.rawres"] == -2
        assert opens[0]["container.id"] == cid[:12]


class TestContainerSnapshot:
    """the start-up scan finds running containers and names them through podman's API."""

    def test_scan_names_container(self, image):
        from falcolib_ebpf.procscan import scan_host
        service = None
        if not os.path.exists(API_SOCKET):
            os.makedirs(os.path.dirname(API_SOCKET), exist_ok=True)
            service = subprocess.Popen(["podman", "system", "service", "--time=0",
                                        f"unix://{API_SOCKET}"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            for _ in range(100):
                if os.path.exists(API_SOCKET):
                    break
                time.sleep(0.1)
        name = f"falcolib-test-{uuid.uuid4().hex[:8]}"
        cid = subprocess.run(RUN + ["-d", "--name", name, image, "/bin/sleep", "30"],
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        try:
            snap = scan_host()
            found = [c for c in snap.containers if c.id == cid[:12]]
            assert len(found) == 1
            c = found[0]
            assert c.type == "podman"
            assert c.name == name
            assert c.image == image
            assert (c.image_repo, c.image_tag) == ("localhost/falcolib-busybox", "test")
            assert c.privileged is False
            inside = [p for p in snap.processes if p.comm == "sleep"
                      and any(f"libpod-{cid}" in cg for cg in p.cgroups)]
            assert len(inside) == 1 and inside[0].vpid == 1
        finally:
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid], capture_output=True, timeout=60)
            if service is not None:
                service.terminate()
                service.wait(timeout=10)


class TestPodmanStorage:
    """Without podman's API service, a container is named from podman's own storage."""

    def test_privileged_container_with_bind(self, image, tmp_path):
        from falcolib_ebpf.containers import describe_container
        name = f"falcolib-disk-{uuid.uuid4().hex[:8]}"
        cid = subprocess.run(RUN + ["-d", "--privileged", "--name", name, "-v", f"{tmp_path}:/data:ro",
                                    image, "/bin/sleep", "30"],
                             check=True, capture_output=True, text=True, timeout=120).stdout.strip()
        try:
            rec = describe_container(cid[:12], "podman", sockets=())
            assert rec is not None
            assert (rec.id, rec.type, rec.name, rec.image) == (cid[:12], "podman", name, image)
            assert (rec.image_repo, rec.image_tag) == ("localhost/falcolib-busybox", "test")
            assert rec.privileged is True
            assert rec.mounts == ((str(tmp_path), "/data", "", False),)
            assert (rec.host_pid, rec.host_network, rec.host_ipc) == (False, False, False)
        finally:
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid], capture_output=True, timeout=60)

    def test_plain_container_and_unknown_id(self, image):
        from falcolib_ebpf.containers import describe_container
        cid = subprocess.run(RUN + ["-d", image, "/bin/sleep", "30"], check=True, capture_output=True,
                             text=True, timeout=120).stdout.strip()
        try:
            rec = describe_container(cid[:12], "podman", sockets=())
            assert rec is not None and rec.privileged is False and rec.mounts == ()
            assert rec.name   # podman's generated name
        finally:
            subprocess.run(["podman", "rm", "-f", "-t", "0", cid], capture_output=True, timeout=60)
        assert describe_container("0123456789ab", "podman", sockets=()) is None
        assert describe_container("../../etc/x", "podman", sockets=()) is None
