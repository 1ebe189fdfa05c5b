"""Escaping of attacker-controlled text in text alerts."""
from __future__ import annotations

import json
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from falcolib.outputs.escape import escape_text, sanitize_utf8

from receivers import HOSTILE


def _dangerous(ch: str) -> bool:
    code = ord(ch)
    return (code < 0x20 or 0x7F <= code <= 0x9F or 0x202A <= code <= 0x202E
            or 0x2066 <= code <= 0x2069 or code in (0x2028, 0x2029) or 0xD800 <= code <= 0xDFFF)


class TestEscapeText:
    """escape_text makes one printable line that a JSON parser reads back exactly."""

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
    def test_round_trips_as_json_string_body(self, text):
        """The escaped text is a JSON string body decoding to the original."""
        assert json.loads('"' + escape_text(text) + '"') == text

    @settings(max_examples=300, deadline=None)
    @given(st.text())
    def test_no_control_or_bidi_character_survives(self, text):
        """No C0/C1 control, DEL, bidi override or lone surrogate is left raw."""
        assert not any(_dangerous(ch) for ch in escape_text(text))

    def test_hostile_examples(self):
        """Terminal escapes, forged lines and invalid UTF-8 become visible escapes."""
        out = [escape_text(t) for t in HOSTILE]
        assert out[0] == "/tmp/\\u001b[2J\\u001b[1;1Hcleared"
        assert out[1] == "line1\\nFAKE: Critical forged alert"
        assert out[2] == "bell\\u0007 cr\\r del\\u007f c1\\u009b31m"
        assert out[3] == "rtl \\u202eexe.txt"
        assert out[4] == 'quote \\" and backslash \\\\'
        assert out[5] == "bad utf8 \ufffd\ufffd"
        assert out[6] == "ünïcødé ok"  # printable non-ASCII stays as is
        assert all(unicodedata.category(c)[0] != "C" for line in out for c in line)

    def test_plain_text_is_returned_unchanged(self):
        """The common case costs a regex search and returns the same object."""
        text = "/usr/bin/cat /etc/passwd"
        assert escape_text(text) is text


class TestSanitizeUtf8:
    """sanitize_utf8 replaces only lone surrogates, as Falco's JSON output does."""

    def test_surrogates_replaced(self):
        """Undecodable bytes (surrogateescape) become U+FFFD; the rest is untouched."""
        raw = b"ok\xff\n".decode("utf-8", "surrogateescape")
        assert sanitize_utf8(raw) == "ok\ufffd\n"
        assert sanitize_utf8("fine") == "fine"
