"""Real attacks inside podman containers raise Falco's incubating and sandbox rules through
`falcolib run` (runc, a local static-busybox image: live_attacks.busybox_image).

The three official rule files run unmodified on the live eBPF backend with a tuning file of
the kind a Falco user writes (live_attacks.TUNE: the sandbox's disabled rules enabled, the
template lists filled) and rule_matching=all, so that no earlier rule hides a later one.
Each test performs one attack for real and checks the alert's fields that identify it.
The podman API service runs meanwhile (container name, image, labels, mounts, privilege).
"""
from __future__ import annotations

import os
import shutil

import pytest

from .conftest import Monitor
from .live_attacks import K8S_NS, busybox_image, container, live_range, marker, podman_api

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rng(tmp_path_factory):
    missing = [t for t in ("podman", "gcc", "busybox") if not shutil.which(t)]
    if missing or not os.path.exists("/usr/sbin/runc"):
        msg = f"{', '.join(missing) or 'runc'} needed (scripts/setup-host installs them)"
        if os.environ.get("FALCOLIB_REQUIRE_LIVE") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    with podman_api(), live_range(tmp_path_factory.mktemp("attacks"), Monitor) as r:
        yield r


@pytest.fixture(scope="module")
def boxes(rng, tmp_path_factory):
    """The container attacks, run once: {"main" | "net" | "tar" | "priv": (short id, name)}."""
    tmp = tmp_path_factory.mktemp("containers")
    image = busybox_image(tmp)
    host = tmp / "hostdir"
    host.mkdir()
    (host / "secret").write_text("s\n")
    (host / "payload").write_text("aGk=\n")
    main = ["/bin/unshare", "-U", "/bin/true", "--", "/bin/apk", "--",
            "/bin/nc", "-w", "1", "127.0.0.1", "9", "--", "/bin/rsync", "--",
            "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9/", "--", "/bin/kubectl", "--",
            "/bin/cat", "/proc/1/environ", "--", "/bin/base64", "-d", "/host/payload", "--",
            "/bin/cp", "/bin/busybox", "/tmp/dropped", "--", "/bin/chmod", "755", "/tmp/dropped", "--",
            "/bin/sh", "-c", "echo x > /proc/self/fd/1", "--", "/bin/npm", "--",
            "/bin/cat", "/dev/sdz", "--", "/bin/cat", "/host/secret"]
    tag = marker()
    names = {w: tmp / f"falcolib-{w}-{tag}" for w in ("main", "net", "tar", "priv")}
    ids = {
        "main": container(image, names["main"], "/bin/xrun", *main,
                          opts=("-v", f"{host}:/host:ro", "--device", "/dev/null:/dev/sdz")),
        "net": container(image, names["net"], "/bin/xrun",
                         "/bin/ip", "addr", "add", "169.254.169.254/32", "dev", "lo", "--",
                         "/bin/xrun", "-udp", "169.254.169.254", "80", "--",
                         "/bin/xrun", "-udp", "169.254.169.254", "31000",
                         opts=("--cap-add", "NET_ADMIN", "--label",
                               f"io.kubernetes.pod.namespace={K8S_NS}")),
        "tar": container(image, names["tar"], "/bin/tar", "-cf", "/dev/null", "/bin/busybox"),
        "priv": container(image, names["priv"], "/bin/mount", "-t", "tmpfs", "none", "/mnt",
                          opts=("--privileged", "-v", "/proc:/hostproc:ro")),
    }
    rng.sync()
    return {w: (cid, names[w].name) for w, cid in ids.items()}


def _in(boxes, which: str, rule: str, rng, where=lambda f: True) -> dict:
    cid, name = boxes[which]
    hits = rng.alerts(rule, lambda f: f.get("container.id") == cid and where(f))
    assert hits, f"no alert of {rule!r} from container {name} ({cid})"
    return hits[0]["output_fields"]


class TestContainerRules:
    """Attacks inside podman containers (runc, local busybox image)."""

    def test_unshare_without_cap_sys_admin(self, rng, boxes):
        f = _in(boxes, "main", "Change namespace privileges via unshare", rng)
        assert f["proc.cmdline"] == "unshare -U /bin/true"
        assert f["evt.type"] == "unshare"

    def test_package_management_process(self, rng, boxes):
        f = _in(boxes, "main", "Launch Package Management Process in Container", rng,
                lambda f: f["proc.name"] == "apk")
        assert f["proc.exepath"] == "/bin/busybox"   # the symlink resolved

    def test_network_tool_in_container(self, rng, boxes):
        f = _in(boxes, "main", "Launch Suspicious Network Tool in Container", rng,
                lambda f: f["proc.pname"] == "xrun")
        assert f["proc.cmdline"] == "nc -w 1 127.0.0.1 9"

    def test_remote_file_copy_tool(self, rng, boxes):
        f = _in(boxes, "main", "Launch Remote File Copy Tools in Container", rng)
        assert f["proc.name"] == "rsync"

    def test_ingress_remote_file_copy_tool(self, rng, boxes):
        f = _in(boxes, "main", "Launch Ingress Remote File Copy Tools in Container", rng)
        assert f["proc.cmdline"] == "wget -q -O /dev/null http://127.0.0.1:9/"

    def test_kubernetes_client_tool(self, rng, boxes):
        f = _in(boxes, "main", "Kubernetes Client Tool Launched in Container", rng)
        assert f["proc.name"] == "kubectl"

    def test_read_environ_from_proc(self, rng, boxes):
        f = _in(boxes, "main", "Read environment variable from /proc files", rng)
        assert f["fd.name"] == "/proc/1/environ"
        assert f["proc.name"] == "cat"

    def test_decoding_payload(self, rng, boxes):
        f = _in(boxes, "main", "Decoding Payload in Container", rng, lambda f: f["proc.name"] == "base64")
        assert f["proc.cmdline"] == "base64 -d /host/payload"

    def test_drift_chmod(self, rng, boxes):
        f = _in(boxes, "main", "Container Drift Detected (chmod)", rng, lambda f: f["proc.name"] == "chmod")
        assert f["evt.arg.filename"] == "/tmp/dropped"
        assert "S_IXUSR" in f["evt.arg.mode"]

    def test_drift_open_create(self, rng, boxes):
        f = _in(boxes, "main", "Container Drift Detected (open+create)", rng,
                lambda f: f["proc.name"] == "cp")
        assert f["evt.arg.name"] == "/tmp/dropped"

    def test_modify_container_entrypoint(self, rng, boxes):
        f = _in(boxes, "main", "Modify Container Entrypoint", rng)
        assert f["fd.name"] == "/proc/self/fd/1"
        assert f["proc.name"] == "sh"

    def test_network_tool_during_npm_install(self, rng, boxes):
        f = _in(boxes, "main", "Network Tool Executed During NPM Package Install", rng)
        assert f["proc.name"] == "nc"
        assert f["proc.aname[2]"] == "npm"

    def test_block_device_access(self, rng, boxes):
        f = _in(boxes, "main", "Privileged Container Device Access", rng)
        assert f["fd.name"] == "/dev/sdz"

    def test_host_sensitive_paths(self, rng, boxes):
        f = _in(boxes, "main", "Container Access to Host Sensitive Paths", rng,
                lambda f: f["proc.name"] == "cat")
        assert f["fd.name"] == "/host/secret"

    def test_run_as_root(self, rng, boxes):
        f = _in(boxes, "main", "Container Run as Root User", rng)
        assert f["proc.name"] == "xrun"
        assert f["user.uid"] == 0

    def test_disallowed_container(self, rng, boxes):
        f = _in(boxes, "main", "Launch Disallowed Container", rng)
        assert f["proc.name"] == "xrun"

    def test_excessively_capable_container(self, rng, boxes):
        f = _in(boxes, "net", "Launch Excessively Capable Container", rng)
        assert "CAP_NET_ADMIN" in f["thread.cap_permitted"].split()
        assert "CAP_SYS_ADMIN" not in f["thread.cap_permitted"].split()

    def test_ec2_metadata_service(self, rng, boxes):
        f = _in(boxes, "net", "Contact EC2 Instance Metadata Service From Container", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["fd.l4proto"] == "udp"
        assert f["proc.cmdline"] == "xrun -udp 169.254.169.254 80"

    def test_cloud_metadata_service(self, rng, boxes):
        f = _in(boxes, "net", "Contact cloud metadata service from container", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["evt.type"] == "connect"

    def test_k8s_nodeport_connection(self, rng, boxes):
        f = _in(boxes, "net", "Unexpected K8s NodePort Connection", rng)
        assert f["fd.name"].endswith("->169.254.169.254:31000")
        assert f["evt.type"] == "connect"

    def test_exfiltration_by_tar(self, rng, boxes):
        f = _in(boxes, "tar", "Exfiltrating Artifacts via Kubernetes Control Plane", rng)
        assert f["fd.name"] == "/bin/busybox"
        assert f["proc.tty"] == 0

    def test_network_outside_local_subnet(self, rng, boxes):
        f = _in(boxes, "net", "Network Connection outside Local Subnet", rng,
                lambda f: f["fd.name"].endswith("->169.254.169.254:80"))
        assert f["fd.l4proto"] == "udp"

    def test_privileged_container(self, rng, boxes):
        f = _in(boxes, "priv", "Launch Privileged Container", rng)
        assert f["container.name"] == boxes["priv"][1]
        assert f["proc.name"] == "mount"

    def test_mount_in_privileged_container(self, rng, boxes):
        f = _in(boxes, "priv", "Mount Launched in Privileged Container", rng)
        assert f["proc.cmdline"] == "mount -t tmpfs none /mnt"

    def test_sensitive_mount_container(self, rng, boxes):
        f = _in(boxes, "priv", "Launch Sensitive Mount Container", rng)
        assert "/proc:/hostproc" in f["container.mounts"]
