"""fs.path.* fields (newer libs): the path(s) a filesystem call names, made absolute.

For calls naming one path (mkdir, rmdir, unlink, chmod, open...) fs.path.name
is that path; for calls naming two (rename, link, symlink) fs.path.source and
fs.path.target. Relative paths are resolved against the dirfd parameter that
goes with them, else the thread's cwd; the ``*raw`` forms are the paths as
the process passed them.
"""
from __future__ import annotations

from falcolib.fields.catalogue import FieldClass, FieldType as T
from falcolib.state.paths import concatenate
from falcolib.state.proc_parsers import dirfd_path

fspath = FieldClass("fs.path", "Every syscall that has a filesystem path in its arguments has these fields set with information related to the path arguments.")
_TH = frozenset({"event", "thread"})

# event name -> (name param, dirfd param) for single-path calls
_NAME = {
    "mkdir": ("path", None), "rmdir": ("path", None), "unlink": ("path", None),
    "mkdirat": ("path", "dirfd"), "unlinkat": ("name", "dirfd"), "chmod": ("filename", None),
    "fchmodat": ("filename", "dirfd"), "mknod": ("path", None), "mknodat": ("path", "dirfd"),
    "open": ("name", None), "openat": ("name", "dirfd"), "openat2": ("name", "dirfd"),
    "creat": ("name", None), "chown": ("path", None), "lchown": ("path", None),
    "fchownat": ("pathname", "dirfd"), "access": ("name", None), "stat": ("path", None),
    "lstat": ("path", None), "truncate": ("path", None),
}
# event name -> (source param, source dirfd, target param, target dirfd)
_PAIR = {
    "rename": ("oldpath", None, "newpath", None),
    "renameat": ("oldpath", "olddirfd", "newpath", "newdirfd"),
    "renameat2": ("oldpath", "olddirfd", "newpath", "newdirfd"),
    "link": ("oldpath", None, "newpath", None),
    "linkat": ("oldpath", "olddir", "newpath", "newdir"),
    "symlink": ("target", None, "linkpath", None),
    "symlinkat": ("target", None, "linkpath", "linkdirfd"),
}


def _raw(evt, pname) -> bytes | None:
    i = evt.index(pname)
    if i is None:
        return None
    b = evt.param_bytes(i)
    return None if b is None else b.split(b"\0", 1)[0]


def _resolve(view, pname, dname, absolute: bool):
    evt = view.evt
    if evt.type % 2 == 0:
        return None
    raw = _raw(evt, pname)
    if raw is None:
        return None
    if not absolute:
        return raw.decode("utf-8", "surrogateescape")
    t = view.thread
    if t is None:
        return None
    dirfd = evt.value(dname) if dname else -100
    if dirfd is None:
        dirfd = -100
    return concatenate(dirfd_path(view.state, t, raw, dirfd), raw)


def _single(absolute):
    def _get(view):
        spec = _NAME.get(view.evt.info.name)
        return None if spec is None else _resolve(view, spec[0], spec[1], absolute)
    return _get


def _pair(which, absolute):
    def _get(view):
        spec = _PAIR.get(view.evt.info.name)
        if spec is None:
            return None
        p, d = (spec[0], spec[1]) if which == "source" else (spec[2], spec[3])
        if which == "source" and view.evt.info.name.startswith("symlink"):
            return _resolve(view, p, None, False)  # a symlink's target is stored as given
        return _resolve(view, p, d, absolute)
    return _get


fspath.field("fs.path.name", T.CHARBUF, "For any event type that deals with a filesystem path, the path the file syscall is operating on, resolved against the cwd or dirfd.", needs=_TH)(_single(True))
fspath.field("fs.path.nameraw", T.CHARBUF, "For any event type that deals with a filesystem path, the path the file syscall is operating on, as passed by the process.", needs=_TH)(_single(False))
fspath.field("fs.path.source", T.CHARBUF, "For any event type that deals with a filesystem path, and specifically for a source and target like mv, cp, etc, the source path the file syscall is operating on, resolved.", needs=_TH)(_pair("source", True))
fspath.field("fs.path.sourceraw", T.CHARBUF, "The source path of a two-path file syscall, as passed by the process.", needs=_TH)(_pair("source", False))
fspath.field("fs.path.target", T.CHARBUF, "For any event type that deals with a filesystem path, and specifically for a target and source like mv, cp, etc, the target path the file syscall is operating on, resolved.", needs=_TH)(_pair("target", True))
fspath.field("fs.path.targetraw", T.CHARBUF, "The target path of a two-path file syscall, as passed by the process.", needs=_TH)(_pair("target", False))
