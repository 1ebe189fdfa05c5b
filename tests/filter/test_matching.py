"""Matching helpers checked against the C library libsinsp calls (fnmatch), and by hand."""
from __future__ import annotations

import ctypes
import ctypes.util

import pytest
from hypothesis import assume, given, settings, strategies as st

from falcolib.filter.matching import TRANSFORMS, glob_matcher, glob_regex, net_matcher, pmatch_matcher
from falcolib.filter.operators import Transformer
from falcolib.filter.quoting import quote, unescape

FNM_CASEFOLD = 1 << 4
_libc_name = ctypes.util.find_library("c")
libc = ctypes.CDLL(_libc_name) if _libc_name else None


def c_fnmatch(pattern: str, text: str, casefold: bool = False) -> bool:
    return libc.fnmatch(pattern.encode(), text.encode(), FNM_CASEFOLD if casefold else 0) == 0


PATTERN_CHARS = "ab/.*?[]!^-\\:c"
TEXT_CHARS = "ab/.c-]^!\\["


@pytest.mark.skipif(libc is None, reason="no C library to compare with")
class TestGlobAgainstFnmatch:
    """glob/iglob agree with glibc's fnmatch(pattern, text, 0 / FNM_CASEFOLD)."""

    @settings(max_examples=1500, deadline=None)
    @given(st.text(st.sampled_from(PATTERN_CHARS), max_size=8),
           st.text(st.sampled_from(TEXT_CHARS), max_size=7))
    def test_random(self, pattern, text):
        # an unclosed '[' is a malformed pattern where glibc's recovery has quirks we skip
        assume(pattern.rfind("[") < pattern.rfind("]") or "[" not in pattern)
        assert (glob_regex(pattern).fullmatch(text) is not None) == c_fnmatch(pattern, text)

    @settings(max_examples=400, deadline=None)
    @given(st.text(st.sampled_from("aAbB*?[]!-"), max_size=6),
           st.text(st.sampled_from("aAbB[]!-"), max_size=5))
    def test_random_casefold(self, pattern, text):
        assume(pattern.rfind("[") < pattern.rfind("]") or "[" not in pattern)
        got = glob_matcher(pattern, casefold=True)(text)
        assert got == c_fnmatch(pattern, text, casefold=True)

    @pytest.mark.parametrize("pattern,text", [
        ("/home/*/.ssh/*", "/home/u/.ssh/id"), ("/home/*/.ssh/*", "/home/a/b/.ssh/c"),
        ("*.sh", "x.sh"), ("[!a]*", "abc"), ("[[:digit:]]x", "1x"), ("[[:alpha:]]", "1"),
        ("[]]", "]"), ("[a-]", "-"), ("\\*", "*"), ("\\*", "a"), ("[z-a]", "m"), ("\\", "\\"),
        ("*", ""), ("[", "["), ("[a", "[a"),
    ])
    def test_known_cases(self, pattern, text):
        assert (glob_regex(pattern).fullmatch(text) is not None) == c_fnmatch(pattern, text)


class TestPmatch:
    """Path prefixes by component, as libsinsp's path_prefix_search."""

    def test_component_prefix(self):
        m = pmatch_matcher(["/usr/lib", "/etc/"])
        assert m("/usr/lib") and m("/usr/lib/x/y") and m("/etc") and m("/etc/passwd")
        assert not m("/usr/libx") and not m("/usr") and not m("etcx")

    def test_relative_and_doubled_slashes(self):
        m = pmatch_matcher(["/a/b"])
        assert m("a/b/c") and m("//a///b")

    def test_root_matches_everything(self):
        assert pmatch_matcher(["/"])("/anything")


class TestNets:
    """Network membership keeps v4 and v6 apart."""

    def test_membership(self):
        import ipaddress
        m = net_matcher([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")])
        assert m("10.2.3.4") and m("::1") and not m("11.0.0.1") and not m("garbage")


class TestTransforms:
    """Transformers on values (never None)."""

    def test_each(self):
        t = TRANSFORMS
        assert t[Transformer.TOLOWER]("AbC/É") == "abc/É"
        assert t[Transformer.TOUPPER]("aBc") == "ABC"
        assert t[Transformer.BASENAME]("/usr/bin/python3") == "python3"
        assert t[Transformer.LEN]("é") == 2 and t[Transformer.LEN](("a", "b")) == 2
        assert t[Transformer.B64]("aGk=") == "hi" and t[Transformer.B64](b"aGk") == b"hi"
        assert t[Transformer.B64]("@@") is None


class TestQuoting:
    """quote() output unescapes back to the same text, for any text."""

    @settings(max_examples=500, deadline=None)
    @given(st.text())
    def test_round_trip(self, text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape") \
            if _encodable(text) else "x"
        q = quote(text)
        assert unescape(q[1:-1], '"') == text


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")
        return True
    except UnicodeEncodeError:
        return False
