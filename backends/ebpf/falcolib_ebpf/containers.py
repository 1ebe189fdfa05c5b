"""Containers from cgroup paths, named through the runtime's Docker-compatible API.

A process's cgroup path says which container it runs in (docker, podman's
libpod, containerd/CRI, cri-o). The Docker-compatible HTTP API on a unix
socket (docker, or ``podman system service``) adds name, image, labels,
mounts and privilege. The API is optional: without it, podman's
own records on disk (``containers.json`` and each container's OCI
``config.json`` in its storage) still give name, image, privilege, bind
mounts and host namespaces; other runtimes are then known by id only.
"""
from __future__ import annotations

import http.client
import glob
import json
import os
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
STORAGE_CONF = "/etc/containers/storage.conf"
GRAPHROOT = "/var/lib/containers/storage"   # podman's default (root)
MAX_JSON_BYTES = 16 << 20                   # a storage file larger than this is not read


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
            rec = podman_record(cid, podman_graphroot()) if runtime == "podman" and sockets else None
            out[cid] = rec or ContainerRecord(id=cid[:12], type=runtime)
    return list(out.values())


def describe_container(short_id: str, runtime: str, *, sockets=API_SOCKETS,
                       graphroot: str | None = None, timeout: float = 0.5) -> ContainerRecord | None:
    """The record of one container first seen live (``short_id``: the 12 hex digits of
    its cgroup path), or None when nothing names it (yet): the runtime's API if served,
    else podman's storage."""
    for api_runtime, path in sockets:
        if runtime not in (api_runtime, "docker") or not os.path.exists(path):
            continue
        try:
            info = _get_json(path, f"/containers/{short_id}/json", timeout)
        except (OSError, http.client.HTTPException, ValueError):
            continue
        if info:
            return _record(runtime, info)
    if runtime == "podman":
        return podman_record(short_id, graphroot or podman_graphroot())
    return None


def podman_graphroot(conf: str = STORAGE_CONF) -> str:
    """podman's storage root: ``graphroot`` of storage.conf, else the default."""
    try:
        with open(conf, encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return GRAPHROOT
    m = re.search(r'^\s*graphroot\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return m.group(1) if m else GRAPHROOT


def _read_json(path: str):
    try:
        if os.stat(path).st_size > MAX_JSON_BYTES:
            return None
        with open(path, "rb") as fh:
            return json.loads(fh.read(MAX_JSON_BYTES))
    except (OSError, ValueError):
        return None


def podman_record(short_id: str, graphroot: str = GRAPHROOT) -> ContainerRecord | None:
    """A podman container's record from its storage (``<driver>-containers``): the
    container list for name and image, its OCI config for privilege, mounts and
    namespaces."""
    if not re.fullmatch(r"[0-9a-f]{12,64}", short_id):
        return None
    for listing in sorted(glob.glob(os.path.join(glob.escape(graphroot), "*-containers",
                                                 "containers.json"))):
        entries = _read_json(listing)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and str(entry.get("id", "")).startswith(short_id):
                return _podman_entry(entry, os.path.dirname(listing), graphroot)
    return None


def _podman_entry(entry: dict, base: str, graphroot: str) -> ContainerRecord:
    full_id = str(entry["id"])
    try:
        meta = json.loads(entry.get("metadata") or "{}")
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    names = entry.get("names") or []
    name = str(meta.get("name") or (names[0] if names else ""))
    image = str(meta.get("image-name") or "")
    repo, tag = image, ""
    if ":" in image.rsplit("/", 1)[-1]:
        repo, _, tag = image.rpartition(":")
    config = _read_json(os.path.join(base, full_id, "userdata", "config.json"))
    config = config if isinstance(config, dict) else {}
    notes = config.get("annotations") or {}
    privileged = None
    if isinstance(notes, dict) and "io.podman.annotations.privileged" in notes:
        privileged = str(notes["io.podman.annotations.privileged"]).upper() == "TRUE"
    mounts = []
    for m in config.get("mounts") or ():
        if not isinstance(m, dict):
            continue
        source, options = str(m.get("source", "")), m.get("options") or []
        # the user's binds and volumes, as `podman inspect` lists them: not the
        # container's own files (hosts, hostname, shm...) under podman's storage
        if "bind" not in options and "rbind" not in options:
            continue
        if source.startswith((graphroot, "/run/containers/", "/var/run/containers/")):
            continue
        mounts.append((source, str(m.get("destination", "")), "", "ro" not in options))
    linux = config.get("linux") or {}
    spaces = {str(n.get("type")) for n in (linux.get("namespaces") or ()) if isinstance(n, dict)}
    image_id = str(meta.get("image-id") or entry.get("image") or "")
    return ContainerRecord(
        id=full_id[:12], type="podman", name=name, image=image, image_id=image_id[:12],
        image_repo=repo, image_tag=tag, privileged=privileged, mounts=tuple(mounts),
        host_pid=("pid" not in spaces) if spaces else None,
        host_network=("network" not in spaces) if spaces else None,
        host_ipc=("ipc" not in spaces) if spaces else None)
