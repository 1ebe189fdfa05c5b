"""user.* fields: the user of the calling thread (capture user table, else the host's)."""
from __future__ import annotations

from falcolib.fields.catalogue import FieldClass, FieldType as T

user = FieldClass("user", "Information about the user executing the specific event.")
_U = frozenset({"event", "thread", "user"})


def _uinfo(view):
    t = view.thread
    return None if t is None else view.state.users.get(t.uid)


@user.field("user.uid", T.UINT32, "user ID.", needs=_U)
def user_uid(view):
    t = view.thread
    return None if t is None else t.uid


@user.field("user.name", T.CHARBUF, "user name.", needs=_U)
def user_name(view):
    u = _uinfo(view)
    return None if u is None else u.name


@user.field("user.homedir", T.CHARBUF, "home directory of the user.", needs=_U)
def user_homedir(view):
    u = _uinfo(view)
    return None if u is None else u.homedir


@user.field("user.shell", T.CHARBUF, "user's shell.", needs=_U)
def user_shell(view):
    u = _uinfo(view)
    return None if u is None else u.shell


@user.field("user.loginuid", T.INT32, "audit user id (auid); -1 when the process has none.", needs=_U)
def user_loginuid(view):
    t = view.thread
    if t is None:
        return None
    v = t.loginuid & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


@user.field("user.loginname", T.CHARBUF, "audit user name (auid).", needs=_U)
def user_loginname(view):
    t = view.thread
    if t is None:
        return None
    u = view.state.users.get(t.loginuid)
    return None if u is None else u.name
