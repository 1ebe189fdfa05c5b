"""group.* fields: the group of the calling thread."""
from __future__ import annotations

from falcolib.fields.catalogue import FieldClass, FieldType as T

group = FieldClass("group", "Information about the user group.")
_G = frozenset({"event", "thread", "user"})


@group.field("group.gid", T.UINT64, "group ID.", needs=_G)
def group_gid(view):
    t = view.thread
    return None if t is None else t.gid


@group.field("group.name", T.CHARBUF, "group name.", needs=_G)
def group_name(view):
    t = view.thread
    if t is None:
        return None
    g = view.state.groups.get(t.gid)
    return None if g is None else g.name
