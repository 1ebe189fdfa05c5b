"""Containers: info from capture JSON events/blocks, ids from a thread's cgroups.

The id is found the way sysdig 0.29's runc-based engines find it: a cgroup
path ending in ``<prefix><64 hex chars><suffix>`` for the docker, podman
and CRI (containerd, cri-o) layouts, reported as the first 12 characters;
then lxc's ``/lxc/<name>/``. A container seen only through its cgroup gets
an entry with its id and type and nothing else (sysdig does the same
offline). Kubernetes pod and namespace names come from the labels that the
kubelet puts on every container (``io.kubernetes.pod.name`` ...).
"""
from __future__ import annotations

import functools

import json
import time

import attrs
import cachetools

from falcolib.backend.model import ContainerRecord

# sinsp_container_type
CT_DOCKER, CT_LXC, CT_LIBVIRT_LXC, CT_MESOS, CT_RKT, CT_CUSTOM, CT_CRI, CT_CONTAINERD, \
    CT_CRIO, CT_BPM, CT_STATIC, CT_PODMAN = range(12)
TYPE_NAMES = {
    CT_DOCKER: "docker", CT_LXC: "lxc", CT_LIBVIRT_LXC: "libvirt-lxc", CT_MESOS: "mesos",
    CT_CRI: "cri", CT_CONTAINERD: "containerd", CT_CRIO: "cri-o", CT_RKT: "rkt",
    CT_BPM: "bpm", CT_PODMAN: "podman", CT_STATIC: "static", CT_CUSTOM: "custom",
}
_TYPES_BY_NAME = {v: k for k, v in TYPE_NAMES.items()}
DOCKER_COMPATIBLE = frozenset({CT_DOCKER, CT_CRI, CT_CONTAINERD, CT_CRIO, CT_PODMAN})

_HEX = frozenset("0123456789abcdefABCDEF")
ID_LEN = 64
REPORTED_ID_LEN = 12
# (prefix, suffix, type) in engine order: docker, podman, cri (sysdig 0.29's layouts)
_LAYOUTS = (
    ("/", "", CT_DOCKER),
    ("/docker-", ".scope", CT_DOCKER),
    ("/libpod-", ".scope", CT_PODMAN),
    ("/crio-", "", CT_CRIO),
    ("/cri-containerd-", ".scope", CT_CONTAINERD),
    ("/crio-", ".scope", CT_CRIO),
    (":cri-containerd:", "", CT_CONTAINERD),
    # not in sysdig 0.29: podman with cgroupfs (``/libpod_parent/libpod-<id>``)
    ("/libpod-", "", CT_PODMAN),
)


PROBE_KINDS = ("Healthcheck", "LivenessProbe", "ReadinessProbe")


def _json_text(v) -> str:
    """A JSON scalar as jsoncpp's asString() gives it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


@attrs.define(slots=True, eq=False)
class ContainerInfo:
    """One container (mutable: a later JSON event may complete it)."""

    id: str
    type: int = CT_DOCKER
    name: str = ""
    image: str = ""
    image_id: str = ""
    image_repo: str = ""
    image_tag: str = ""
    image_digest: str = ""
    privileged: bool = False
    mounts: tuple = ()   # (source, dest, mode, rw: bool, propagation)
    labels: dict = attrs.field(factory=dict)
    ip: str = ""
    full_id: str = ""
    created_time: int = 0
    # (kind, exe, args) with kind "Healthcheck", "LivenessProbe" or "ReadinessProbe"
    health_probes: tuple = ()

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, "")

    @classmethod
    def from_record(cls, rec: ContainerRecord) -> "ContainerInfo":
        ctype = _TYPES_BY_NAME.get(rec.type, CT_DOCKER) if isinstance(rec.type, str) else rec.type
        return cls(rec.id, ctype, rec.name, rec.image, rec.image_id, rec.image_repo,
                   rec.image_tag, rec.image_digest, bool(rec.privileged),
                   tuple((s, d, m, rw, "") for s, d, m, rw in rec.mounts),
                   dict(rec.labels), rec.ip)

    @classmethod
    def from_json(cls, text: str | bytes) -> "ContainerInfo | None":
        """Parse sysdig's container JSON (PPME_CONTAINER_JSON_E); None if malformed."""
        try:
            root = json.loads(text)
            c = root["container"]
            cid = str(c["id"])
        except (ValueError, KeyError, TypeError):
            return None

        def s(key: str) -> str:
            v = c.get(key)
            return v if isinstance(v, str) else ("" if v is None else str(v))

        mounts = []
        for m in c.get("Mounts") or ():
            if isinstance(m, dict):
                mounts.append((str(m.get("Source", "")), str(m.get("Destination", "")),
                               str(m.get("Mode", "")), bool(m.get("RW", False)),
                               str(m.get("Propagation", ""))))
        labels = c.get("labels") or {}
        ctype = c.get("type", CT_DOCKER)
        probes = []
        for kind in PROBE_KINDS:   # as parse_health_probes: {"exe": ..., "args": [...]}
            p = c.get(kind)
            if isinstance(p, dict) and isinstance(p.get("exe"), (str, int, float, bool)):
                args = p.get("args")
                probes.append((kind, _json_text(p["exe"]), tuple(
                    _json_text(a) for a in (args if isinstance(args, list) else ())
                    if isinstance(a, (str, int, float, bool)))))
        return cls(cid, ctype if isinstance(ctype, int) else CT_DOCKER, s("name"), s("image"),
                   s("imageid"), s("imagerepo"), s("imagetag"), s("imagedigest"),
                   bool(c.get("privileged", False)), tuple(mounts),
                   {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
                   s("ip"), s("full_id"), int(c.get("created_time") or 0), tuple(probes))

    def mount(self, key: str | int):
        """A mount by index (``container.mount[0]``) or by source path, as sysdig."""
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            i = int(key)
            return self.mounts[i] if 0 <= i < len(self.mounts) else None
        for m in self.mounts:
            if m[0] == key:
                return m
        return None

    def mount_by_dest(self, pattern: str):
        from fnmatch import fnmatchcase
        for m in self.mounts:
            if fnmatchcase(m[1], pattern):
                return m
        return None


def mount_text(m) -> str:
    """container_mount_info::to_string: ``source:dest:mode:rw:propagation``."""
    source, dest, mode, rw, prop = m
    return f"{source}:{dest}:{mode}:{'true' if rw else 'false'}:{prop}"


def _match(cgroup: str, prefix: str, suffix: str) -> str | None:
    start = cgroup.rfind(prefix)
    if start < 0:
        return None
    start += len(prefix)
    end = cgroup.rfind(suffix) if suffix else len(cgroup)
    if end < 0 or end - start != ID_LEN:
        return None
    for i in range(start, len(cgroup)):
        if cgroup[i] not in _HEX:
            if i < ID_LEN:
                return None
            break
    return cgroup[start:start + REPORTED_ID_LEN]


def container_from_cgroups(cgroups) -> tuple[str, int] | None:
    """(short id, type) of the container a thread's cgroups put it in, or None (host).
    Remembered for the last 1024 cgroup lists (every clone and execve asks)."""
    try:
        key = tuple(cgroups)
        hash(key)
    except TypeError:
        return _from_cgroups.__wrapped__(cgroups)
    return _from_cgroups(key)


@functools.lru_cache(maxsize=1024)
def _from_cgroups(cgroups) -> tuple[str, int] | None:
    for prefix, suffix, ctype in _LAYOUTS:
        for _sub, path in cgroups:
            cid = _match(path, prefix, suffix)
            if cid is not None:
                return cid, ctype
    for _sub, path in cgroups:  # lxc
        for marker in ("/lxc/", "/lxc.payload/"):
            pos = path.find(marker)
            if pos >= 0:
                start = pos + len(marker)
                end = path.find("/", start)
                return (path[start:] if end < 0 else path[start:end]), CT_LXC
    return None


class ContainerTable:
    """Known containers by id, bounded (least recently used leave first).

    ``describe`` (set by a live run: the backend's ``describe_container``) names a
    container first seen in an event's cgroups: (short id, runtime name) ->
    ContainerRecord or None.
    A container it cannot name yet (the runtime has not written it down) is asked again
    on a later event, at most DESCRIBE_TRIES times and once per DESCRIBE_RETRY_NS."""

    DESCRIBE_TRIES = 4
    DESCRIBE_RETRY_NS = 500_000_000

    def __init__(self, maxsize: int = 4096):
        self._by_id: cachetools.LRUCache = cachetools.LRUCache(maxsize)
        self.describe = None
        # short id -> (tries, monotonic ns of the last) for containers not named yet
        self._unnamed: cachetools.LRUCache = cachetools.LRUCache(256)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self):
        return iter(list(self._by_id.values()))

    def get(self, cid: str) -> ContainerInfo | None:
        return self._by_id.get(cid)

    def add(self, info: ContainerInfo) -> None:
        self._by_id[info.id] = info

    def resolve(self, cgroups) -> str:
        """The container id for these cgroups ("" = host), adding a bare entry if new."""
        found = container_from_cgroups(cgroups)
        if found is None:
            return ""
        cid, ctype = found
        if self._by_id.get(cid) is None:
            self._by_id[cid] = ContainerInfo(cid, ctype)
            if self.describe is not None:
                self._unnamed[cid] = (0, 0)
        if self.describe is not None and cid in self._unnamed:
            self._name(cid)
        return cid

    def _name(self, cid: str) -> None:
        tries, last = self._unnamed[cid]
        now = time.monotonic_ns()
        if tries and now - last < self.DESCRIBE_RETRY_NS:
            return
        rec = self.describe(cid, self._by_id[cid].type_name)
        if rec is not None:
            info = ContainerInfo.from_record(rec)
            old = self._by_id.get(cid)
            if old is not None:
                info.type = old.type   # the cgroup layout's runtime, as sysdig reports it
            self._by_id[cid] = info
            del self._unnamed[cid]
        elif tries + 1 >= self.DESCRIBE_TRIES:
            del self._unnamed[cid]
        else:
            self._unnamed[cid] = (tries + 1, now)
