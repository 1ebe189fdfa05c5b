"""Users and groups: the capture's tables, else the host's /etc/passwd and /etc/group."""
from __future__ import annotations

import attrs

from falcolib.backend.model import GroupRecord, UserRecord


@attrs.frozen
class UserInfo:
    uid: int
    gid: int
    name: str
    homedir: str = ""
    shell: str = ""


@attrs.frozen
class GroupInfo:
    gid: int
    name: str


def _read_lines(path: str) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return [ln.rstrip("\n").split(":") for ln in fh if ln.strip() and not ln.startswith("#")]
    except OSError:
        return []


def host_users(path: str = "/etc/passwd") -> dict[int, UserInfo]:
    out: dict[int, UserInfo] = {}
    for f in _read_lines(path):
        if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
            uid = int(f[2])
            out.setdefault(uid, UserInfo(uid, int(f[3]), f[0], f[5], f[6]))
    return out


def host_groups(path: str = "/etc/group") -> dict[int, GroupInfo]:
    out: dict[int, GroupInfo] = {}
    for f in _read_lines(path):
        if len(f) >= 3 and f[2].isdigit():
            gid = int(f[2])
            out.setdefault(gid, GroupInfo(gid, f[0]))
    return out


def users_from_records(records: tuple[UserRecord, ...]) -> dict[int, UserInfo]:
    out: dict[int, UserInfo] = {}
    for r in records:
        if not r.container_id:   # container-scoped tables (newer libs) are ignored here
            out.setdefault(r.uid, UserInfo(r.uid, r.gid, r.name, r.homedir, r.shell))
    return out


def groups_from_records(records: tuple[GroupRecord, ...]) -> dict[int, GroupInfo]:
    out: dict[int, GroupInfo] = {}
    for r in records:
        if not r.container_id:
            out.setdefault(r.gid, GroupInfo(r.gid, r.name))
    return out
