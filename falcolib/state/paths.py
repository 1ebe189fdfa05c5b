"""Path joining exactly as sysdig 0.29 does it (sinsp_utils::concatenate_paths).

The kernel hands us a path relative to a directory (the cwd, or a dirfd).
sysdig joins the two, resolves ``.`` and ``..`` components lexically, drops
repeated slashes and a trailing slash, and replaces every byte that is not
printable ASCII with ``.`` (so a UTF-8 name ``é`` becomes ``..``). Work is
done on bytes so that non-UTF-8 names come out the same way.
"""
from __future__ import annotations

import functools

MAX_PATH = 1024  # SCAP_MAX_PATH_SIZE
_PRINTABLE = bytes(range(0x20, 0x7F))
# byte -> itself if printable ASCII, else '.'
_SANITIZE = bytes(b if b in _PRINTABLE else 0x2E for b in range(256))


def sanitize(data: bytes) -> bytes:
    """Every byte that is not printable ASCII becomes '.' (sysdig's g_invalidchar)."""
    return data.translate(_SANITIZE)


_INVALID = bytes(b for b in range(256) if b not in _PRINTABLE)


def erase_invalid(data: bytes | str) -> str:
    """Drop every byte that is not printable ASCII (sysdig's sanitize_string)."""
    if isinstance(data, str):
        if data.isascii() and data.isprintable():
            return data
        data = data.encode("utf-8", "surrogateescape")
    return data.translate(None, _INVALID).decode("ascii")


def _rewind(out: bytearray) -> None:
    """Drop the last path component of ``out`` (which ends with '/')."""
    if len(out) <= 1:
        return
    del out[-1]
    while len(out) >= 1 and out[-1] != 0x2F:
        del out[-1]


def _append(out: bytearray, base: int, path: bytes) -> None:
    # copy_and_sanitize_path: out[:base] is the prefix we may rewind into
    i = 0
    n = len(path)
    while i < n:
        c = path[i]
        if c == 0x2E:  # '.'
            nxt = path[i + 1] if i + 1 < n else 0
            if nxt == 0x2E:
                nxt2 = path[i + 2] if i + 2 < n else 0
                if nxt2 == 0x2F:
                    _rewind(out)
                    i += 3
                    continue
                if nxt2 == 0:
                    _rewind(out)
                    i += 2
                    continue
                out += b".."
                i += 2
                continue
            if nxt == 0x2F:
                i += 2
                continue
            if nxt == 0:
                i += 1
                continue
            out.append(c)
            i += 1
        elif c == 0x2F:
            if out and out[-1] == 0x2F:
                i += 1
            else:
                out.append(c)
                i += 1
        else:
            out.append(_SANITIZE[c])
            i += 1
    if len(out) > 1 and out[-1] == 0x2F:
        del out[-1]


def concatenate(dirpath: str | bytes, path: bytes | str | None) -> str:
    """Join ``path`` to ``dirpath`` as sysdig does (absolute ``path`` ignores ``dirpath``).
    The last 4096 answers are remembered (processes open the same files again and again)."""
    try:
        return _remembered(dirpath, path)
    except TypeError:   # an unhashable buffer
        return _concatenate(dirpath, path)


def _concatenate(dirpath: str | bytes, path: bytes | str | None) -> str:
    if path is None:
        path = b""
    if isinstance(path, str):
        path = path.encode("utf-8", "surrogateescape")
    nul = path.find(b"\0")
    if nul >= 0:
        path = path[:nul]
    if isinstance(dirpath, str):
        dirpath = dirpath.encode("utf-8", "surrogateescape")
    # sysdig counts the terminating NUL of the kernel's string in len2
    if len(dirpath) + len(path) + 2 > MAX_PATH:
        return "/PATH_TOO_LONG"
    if path and b"./" not in path and b".." not in path and b"//" not in path \
            and path[-1] != 0x2E and path.translate(_SANITIZE) == path:
        # the common case, nothing to resolve or sanitize: what _append would build
        out = path if path[0] == 0x2F else dirpath + path
        if len(out) > 1 and out[-1] == 0x2F:
            out = out[:-1]
        return out.decode("ascii", "surrogateescape") if out.isascii() else \
            out.decode("utf-8", "surrogateescape")
    if path and path[0] != 0x2F:
        out = bytearray(dirpath)
        _append(out, len(dirpath), path)
    else:
        out = bytearray()
        _append(out, 0, path)
    return out.decode("ascii", "surrogateescape") if out.isascii() else \
        out.decode("utf-8", "surrogateescape")


_remembered = functools.lru_cache(maxsize=4096)(_concatenate)
