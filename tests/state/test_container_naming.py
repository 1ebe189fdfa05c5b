"""A live run names a container when its first event shows it (ContainerTable.describe)."""
from __future__ import annotations

import time

from falcolib.backend.model import ContainerRecord
from falcolib.state.containers import ContainerTable

CID = "5f" * 32
CGROUPS = (("cpu", "/"), ("memory", f"/libpod_parent/libpod-{CID}"))


class TestDescribe:
    """describe is asked once for a new container, again later while it names nothing."""

    def test_named_on_first_sight(self):
        asked = []

        def describe(short, runtime):
            asked.append((short, runtime))
            return ContainerRecord(id=short, type="podman", name="web", image="nginx:1",
                                   image_repo="nginx", image_tag="1", privileged=True,
                                   mounts=(("/srv", "/data", "", False),))
        table = ContainerTable()
        table.describe = describe
        assert table.resolve(CGROUPS) == CID[:12]
        assert table.resolve(CGROUPS) == CID[:12]
        assert asked == [(CID[:12], "podman")]
        info = table.get(CID[:12])
        assert (info.name, info.image_repo, info.privileged) == ("web", "nginx", True)
        assert info.type_name == "podman"
        assert info.mounts == (("/srv", "/data", "", False, ""),)

    def test_retried_then_given_up(self, monkeypatch):
        asked = []
        table = ContainerTable()
        table.describe = lambda short, runtime: asked.append(short)
        monkeypatch.setattr(ContainerTable, "DESCRIBE_RETRY_NS", 1_000_000)
        table.resolve(CGROUPS)
        table.resolve(CGROUPS)          # too soon: not asked again
        assert len(asked) == 1
        for _ in range(ContainerTable.DESCRIBE_TRIES + 2):
            time.sleep(0.002)
            table.resolve(CGROUPS)
        assert len(asked) == ContainerTable.DESCRIBE_TRIES
        assert table.get(CID[:12]).name == ""

    def test_replay_never_asks(self):
        table = ContainerTable()
        assert table.resolve(CGROUPS) == CID[:12]
        assert table.get(CID[:12]).type_name == "podman"
        assert table.resolve((("memory", "/user.slice"),)) == ""
