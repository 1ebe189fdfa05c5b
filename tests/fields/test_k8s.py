"""k8s.* fields come from the kubelet's container labels only."""
from __future__ import annotations

from falcolib.state import State
from falcolib.testing.events import EventBuilder
from tests.fields.statekit import base_snapshot, feed, field


class TestK8s:
    """Outside a pod every k8s field is <NA>; API-only objects never have a value."""

    def test_host_has_no_k8s(self):
        st = State(base_snapshot())
        v = feed(st, [EventBuilder(tid=200).named("PPME_SYSCALL_GETUID_E")])
        for name in ("k8s.pod.name", "k8s.ns.name", "k8s.pod.id", "k8s.pod.labels",
                     "k8s.deployment.name", "k8s.svc.name"):
            assert field(v, name) is None
