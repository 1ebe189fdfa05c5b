"""Parsers of container events: sysdig's container JSON events and the old container event."""
from __future__ import annotations

from falcolib.state.containers import ContainerInfo
from falcolib.state.groups import THREAD
from falcolib.state.proc_parsers import _b, _s, _v
from falcolib.state.threadinfo import CL_IS_MAIN_THREAD, ThreadInfo


def parse_container_json(state, evt, view) -> None:
    info = ContainerInfo.from_json(_b(evt, 0).split(b"\0", 1)[0])
    if info is not None:
        state.containers.add(info)
        # sysdig shows these events with a made-up thread describing the container
        t = ThreadInfo(evt.tid, -1, 0, f"container:{info.id}", "", "")
        t.container_id, t.uid, t.gid, t.flags = info.id, 0, 0, CL_IS_MAIN_THREAD
        t.vtid = t.vpid = -2   # sinsp_container_info::get_tinfo
        view.thread = t


def parse_container_evt(state, evt, view) -> None:
    """The old (deprecated) container event: id, type, name, image."""
    cid = _s(evt, 0)
    if cid:
        state.containers.add(ContainerInfo(cid, _v(evt, 1, 0), _s(evt, 2), _s(evt, 3)))


HANDLERS = {
    "PPME_CONTAINER_E": parse_container_evt,
    "PPME_CONTAINER_JSON_E": parse_container_json,
    "PPME_CONTAINER_JSON_2_E": parse_container_json,
}
STORE_ENTER: frozenset[str] = frozenset()

# lean state (falcolib.state.groups): the container table goes with the thread table
GROUP = THREAD
