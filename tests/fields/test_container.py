"""container.* fields: ids from cgroups, details from container JSON events."""
from __future__ import annotations

import json

from falcolib.state import State
from falcolib.state.containers import container_from_cgroups
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, execve, feed, field

ID = "0123456789ab" + "c" * 52


def _json(**kw):
    c = {"id": ID[:12], "type": 0, "name": "web", "image": "nginx:1.25", "imagerepo": "nginx",
         "imagetag": "1.25", "imageid": "abc", "privileged": True,
         "Mounts": [{"Source": "/var/run/docker.sock", "Destination": "/sock", "Mode": "",
                     "RW": True, "Propagation": "rprivate"}],
         "labels": {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "prod",
                    "app": "web"}}
    c.update(kw)
    return json.dumps({"container": c})


class TestCgroupIds:
    """sysdig's runc layouts (docker, systemd docker, cri-o, containerd) and podman."""

    def test_layouts(self):
        assert container_from_cgroups([("cpu", f"/docker/{ID}")]) == (ID[:12], 0)
        assert container_from_cgroups([("cpu", f"/system.slice/docker-{ID}.scope")]) == (ID[:12], 0)
        assert container_from_cgroups([("cpu", f"/kubepods/besteffort/pod1/crio-{ID}")])[0] == ID[:12]
        assert container_from_cgroups([("cpu", f"/kubepods.slice/cri-containerd-{ID}.scope")])[0] == ID[:12]
        assert container_from_cgroups([("cpu", f"/libpod_parent/libpod-{ID}")])[0] == ID[:12]
        assert container_from_cgroups([("cpu", "/user.slice/session-1.scope")]) is None
        assert container_from_cgroups([("cpu", "/docker/" + "z" * 64)]) is None


class TestContainerFields:
    """A process whose cgroups name a container gets that container's details."""

    def test_host_process(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=200).named("PPME_SYSCALL_GETUID_E")])
        assert (field(v, "container.id"), field(v, "container.name")) == ("host", "host")
        assert field(v, "container.image") is None and field(v, "container.privileged") is None

    def test_container_json_then_exec_inside(self):
        st = State(base_snapshot())
        feed(st, [EventBuilder(tid=5).named("PPME_CONTAINER_JSON_E", _json())])
        b = EventBuilder(tid=300, ts=1_800_000_000_000_000_000)
        v = feed(st, execve(b, "/bin/sh", [], "sh", ptid=200, cgroups=[f"cpuset=/docker/{ID}"]))
        assert field(v, "container.id") == ID[:12]
        assert field(v, "container.name") == "web"
        assert field(v, "container.image.repository") == "nginx"
        assert field(v, "container.image.tag") == "1.25"
        assert field(v, "container.privileged") is True
        assert field(v, "container.type") == "docker"
        assert field(v, "container.mount.dest", "/var/run/docker.sock") == "/sock"
        assert field(v, "container.mount.source", "/so*") == "/var/run/docker.sock"
        assert field(v, "container.mounts") == "/var/run/docker.sock:/sock::true:rprivate"
        assert field(v, "k8s.pod.name") == "web-1" and field(v, "k8s.ns.name") == "prod"
        assert field(v, "k8s.pod.label", "app") == "web"

    def test_health_probes_from_json(self):
        """Probes from the JSON's Healthcheck/LivenessProbe/ReadinessProbe; "NONE" when absent."""
        st = State(base_snapshot())
        probe = {"exe": "/bin/sh", "args": ["-c", "curl -f localhost", 3]}
        feed(st, [EventBuilder(tid=5).named("PPME_CONTAINER_JSON_E", _json(Healthcheck=probe))])
        b = EventBuilder(tid=300)
        v = feed(st, execve(b, "/bin/sh", [], "sh", ptid=200, cgroups=[f"cpuset=/docker/{ID}"]))
        assert field(v, "container.healthcheck") == "/bin/sh -c curl -f localhost 3"
        assert field(v, "container.liveness_probe") == "NONE"
        host = feed(st, [EventBuilder(tid=200).named("PPME_SYSCALL_GETUID_E")])
        assert field(host, "container.healthcheck") is None

    def test_container_seen_only_by_cgroup(self):
        st = State(base_snapshot())
        b = EventBuilder(tid=300)
        v = feed(st, execve(b, "/bin/sh", [], "sh", ptid=200, cgroups=[f"cpuset=/docker/{ID}"]))
        assert field(v, "container.id") == ID[:12]
        assert field(v, "container.name") is None and field(v, "container.type") == "docker"
        assert field(v, "k8s.pod.name") is None

    def test_malformed_json_is_ignored(self):
        st = State(base_snapshot())
        feed(st, [EventBuilder(tid=5).named("PPME_CONTAINER_JSON_E", "{not json")])
        assert len(st.containers) == 0


class TestOldContainerEvent:
    """The deprecated PPME_CONTAINER_E (id, type, name, image) still registers a container."""

    def test_container_e(self):
        st = State(base_snapshot())
        feed(st, [EventBuilder(tid=5).named("PPME_CONTAINER_E", ID[:12], 0, "old", "busybox")])
        b = EventBuilder(tid=300)
        v = feed(st, execve(b, "/bin/sh", [], "sh", ptid=200, cgroups=[f"cpuset=/docker/{ID}"]))
        assert (field(v, "container.name"), field(v, "container.image")) == ("old", "busybox")
