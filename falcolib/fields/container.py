"""container.* fields: the container of the calling thread ("host" outside containers)."""
from __future__ import annotations

from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T
from falcolib.fields.proc import render_bool
from falcolib.state.containers import DOCKER_COMPATIBLE, mount_text

container = FieldClass("container", "Container information. If the event is not happening inside a container, both id and name will be set to 'host'.")
_C = frozenset({"event", "thread", "container"})


def _info(view):
    """(in a container?, ContainerInfo | None)."""
    t = view.thread
    if t is None:
        return None, None
    if not t.container_id:
        return False, None
    return True, view.state.containers.get(t.container_id)


@container.field("container.id", T.CHARBUF, "the container id.", needs=_C)
def container_id(view):
    t = view.thread
    if t is None:
        return None
    return t.container_id or "host"


@container.field("container.name", T.CHARBUF, "the container name.", needs=_C)
def container_name(view):
    inside, c = _info(view)
    if inside is None:
        return None
    if not inside:
        return "host"
    return c.name if c is not None and c.name else None


@container.field("container.type", T.CHARBUF, "the container type, eg: docker or rkt", needs=_C)
def container_type(view):
    inside, c = _info(view)
    if inside is None:
        return None
    if not inside:
        return "host"
    return None if c is None else c.type_name


def _attr(name, desc, attr):
    @container.field(name, T.CHARBUF, desc, needs=_C)
    def _get(view, _a=attr):
        inside, c = _info(view)
        if not inside or c is None:
            return None
        return getattr(c, _a) or None
    return _get


_attr("container.image", "the container image name (e.g. falcosecurity/falco:latest for docker).", "image")
_attr("container.image.id", "the container image id (e.g. 6f7e2741b66b).", "image_id")
_attr("container.image.repository", "the container image repository (e.g. falcosecurity/falco).", "image_repo")
_attr("container.image.tag", "the container image tag (e.g. stable, latest).", "image_tag")
_attr("container.image.digest", "the container image registry digest (e.g. sha256:d977378f890d445c15e51795296e4e5062f109ce6da83e0a355fc4ad8699d27).", "image_digest")
_attr("container.ip", "the container's / pod's primary ip address.", "ip")


@container.field("container.privileged", T.BOOL, "true for containers running as privileged, false otherwise", needs=_C, render=render_bool)
def container_privileged(view):
    inside, c = _info(view)
    if not inside or c is None or c.type not in DOCKER_COMPATIBLE:
        return None
    return bool(c.privileged)


@container.field("container.mounts", T.CHARBUF, "a space-separated list of mount information. Each item in the list has the format <source>:<dest>:<mode>:<rdrw>:<propagation>", needs=_C)
def container_mounts(view):
    inside, c = _info(view)
    if not inside or c is None:
        return None
    return ",".join(mount_text(m) for m in c.mounts)


def _mount(view, key, dest_glob=False):
    inside, c = _info(view)
    if not inside or c is None:
        return None
    return c.mount_by_dest(key) if dest_glob else c.mount(key)


@container.field("container.mount", T.CHARBUF, "information about a single mount, specified by number (e.g. container.mount[0]) or mount source (container.mount[/usr/local]).", arg=ArgKind.KEY, needs=_C)
def container_mount(view, key):
    m = _mount(view, key)
    return None if m is None else mount_text(m)


def _mount_part(name, desc, index, by_dest=False):
    @container.field(name, T.CHARBUF, desc, arg=ArgKind.KEY, needs=_C)
    def _get(view, key, _i=index):
        m = _mount(view, key, by_dest)
        if m is None:
            return None
        v = m[_i]
        return ("true" if v else "false") if isinstance(v, bool) else v
    return _get


_mount_part("container.mount.source", "the mount source, specified by number or mount destination (container.mount.source[/host/lib/modules]).", 0, True)
_mount_part("container.mount.dest", "the mount destination, specified by number or mount source (container.mount.dest[/lib/modules]).", 1)
_mount_part("container.mount.mode", "the mount mode, specified by number or mount source.", 2)
_mount_part("container.mount.rdwr", "the mount rdwr value, specified by number or mount source.", 3)
_mount_part("container.mount.propagation", "the mount propagation value, specified by number or mount source.", 4)


def _probe(kind):
    """The container's probe command line of ``kind``; "NONE" for a known container
    without one; no value outside containers or for an unknown container (sysdig)."""
    def _get(view):
        inside, c = _info(view)
        if not inside or c is None:
            return None
        for k, exe, args in c.health_probes:
            if k == kind:
                return " ".join((exe, *args))
        return "NONE"
    return _get


for _n, _kind, _what in (("container.healthcheck", "Healthcheck", "health check"),
                         ("container.liveness_probe", "LivenessProbe", "liveness probe"),
                         ("container.readiness_probe", "ReadinessProbe", "readiness probe")):
    container.field(_n, T.CHARBUF, f"the container's {_what} command line; \"NONE\" if it has "
                    "none.", needs=_C)(_probe(_kind))


@container.field("container.start_ts", T.ABSTIME, "container start as epoch timestamp in nanoseconds.", needs=_C)
def container_start_ts(view):
    inside, c = _info(view)
    if not inside or c is None or not c.created_time:
        return None
    return c.created_time * 1_000_000_000


@container.field("container.duration", T.RELTIME, "number of nanoseconds since the container started.", needs=_C)
def container_duration(view):
    start = container_start_ts(view)
    return None if start is None else view.evt.ts - start
