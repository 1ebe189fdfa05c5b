"""Containers from cgroup paths, named through the runtime's Docker-compatible API.

A process's cgroup path says which container it runs in (docker, podman's
libpod, containerd/CRI, cri-o). The Docker-compatible HTTP API on a unix
socket (docker, or ``podman system service``) adds name, image, labels,
mounts and privilege. The API is optional: without it containers are
still known by id and runtime.
"""
from __future__ import annotations

import http.client
import json
import re
import socket
from typing import Iterable

from falcolib.backend.model import ContainerRecord

# (runtime, pattern) tried in order on each cgroup path; group 1 is the 64-hex id
_CGROUP_PATTERNS = (
    ("podman", re.compile(r"libpod-(?!conmon-)([0-9a-f]{64})")),
    ("docker", re.compile(r"/docker[-/]([0-9a-f]{64})")),
    ("cri-o", re.compile(r"crio-(?!conmon-)([0-9a-f]{64})")),
    ("containerd", re.compile(r"cri-containerd-([0-9a-f]{64})")),
    ("containerd", re.compile(r"/kubepods[^ ]*/(?:pod[^/]+/)?([0-9a-f]{64})")),
)
API_SOCKETS = (("podman", "/run/podman/podman.sock"), ("docker", "/var/run/docker.sock"))
MAX_INSPECT = 256  # containers inspected per scan (bounded work)


def container_of(cgroups: Iterable[str]) -> tuple[str, str] | None:
    """(runtime, 64-hex id) from "subsys=/path" or plain paths, or None on the host."""
    for entry in cgroups:
        path = entry.partition("=")[2] if "=" in entry else entry
        for runtime, pattern in _CGROUP_PATTERNS:
            m = pattern.search(path)
            if m:
                return runtime, m.group(1)
    return None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _get_json(path: str, url: str, timeout: float):
    conn = _UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", url)
        resp = conn.getresponse()
        body = resp.read(8 << 20)
        if resp.status != 200:
            return None
        return json.loads(body)
    finally:
        conn.close()


def _record(runtime: str, info: dict) -> ContainerRecord:
    full_id = info.get("Id", "")
    name = info.get("Name") or ""
    if not name:
        names = info.get("Names") or []
        name = names[0] if names else ""
    name = name.lstrip("/")
    cfg = info.get("Config") or {}
    host = info.get("HostConfig") or {}
    image = cfg.get("Image") or info.get("Image") or ""
    repo, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        repo, _, tag = image.rpartition(":")
    labels = cfg.get("Labels") or info.get("Labels") or {}
    mounts = tuple(
        (m.get("Source", ""), m.get("Destination", ""), m.get("Mode", ""), bool(m.get("RW", False)))
        for m in (info.get("Mounts") or ())
    )
    net = host.get("NetworkMode", "")
    return ContainerRecord(
        id=full_id[:12], type=runtime, name=name, image=image,
        image_id=(info.get("Image") if info.get("Image", "").startswith("sha256:") else
                  info.get("ImageID", "")).removeprefix("sha256:")[:12],
        image_repo=repo, image_tag=tag,
        privileged=host.get("Privileged") if "Privileged" in host else None,
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        mounts=mounts, user=cfg.get("User", "") or "",
        host_pid=(host.get("PidMode") == "host") if "PidMode" in host else None,
        host_network=(net == "host") if net else None,
        host_ipc=(host.get("IpcMode") == "host") if "IpcMode" in host else None,
    )


def describe(found: dict[str, str], *, sockets=API_SOCKETS, timeout: float = 1.0) -> list[ContainerRecord]:
    """ContainerRecords for ``found`` (64-hex id -> runtime), API details where available."""
    out = {}
    for api_runtime, path in sockets:
        todo = [cid for cid, rt in found.items() if cid not in out and rt in (api_runtime, "docker")]
        if not todo:
            continue
        for cid in todo[:MAX_INSPECT]:
            try:
                info = _get_json(path, f"/containers/{cid}/json", timeout)
            except (OSError, http.client.HTTPException, ValueError):
                break  # no such socket or service: try the next runtime
            if info:
                out[cid] = _record(found[cid], info)
    for cid, runtime in found.items():
        if cid not in out:
            out[cid] = ContainerRecord(id=cid[:12], type=runtime)
    return list(out.values())
