"""state.paths.concatenate: its shortcut for plain paths builds what the byte walk builds."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from falcolib.state.paths import _append, concatenate

PIECES = st.sampled_from([b"/", b".", b"..", b"a", b"etc", b"x.y", b".hidden", b"\xc3\xa9",
                          b"\x01", b"-", b" "])


def walked(dirpath: bytes, path: bytes) -> str:
    """The byte walk alone (sysdig's copy_and_sanitize_path), no shortcut."""
    if path and path[0] != 0x2F:
        out = bytearray(dirpath)
        _append(out, len(dirpath), path)
    else:
        out = bytearray()
        _append(out, 0, path)
    return out.decode("utf-8", "surrogateescape")


class TestConcatenate:
    """Plain paths take a shortcut; every path gives sysdig's result."""

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from([b"/", b"/home/u/", b"/tmp/d\xc3\xa9/", b"<UNKNOWN>", b"."]),
           st.lists(PIECES, max_size=8).map(b"".join))
    def test_same_as_the_walk(self, dirpath, path):
        assert concatenate(dirpath, path) == walked(dirpath, path)

    def test_examples(self):
        assert concatenate("/home/u/", b"notes.txt") == "/home/u/notes.txt"
        assert concatenate("/home/u/", b"/etc/passwd") == "/etc/passwd"
        assert concatenate("/home/u/", b"../x/") == "/home/x"
        assert concatenate("/home/u/", b"a./b") == "/home/u/ab"   # sysdig drops './' anywhere
        assert concatenate("/", b"/etc/") == "/etc"
        assert concatenate("/", b"/") == "/"
