"""Matching helpers the generated code calls: glob, path prefixes, networks, transformers.

- ``glob_matcher``: C ``fnmatch`` with flags 0 (what libsinsp calls):
  ``*`` and ``?`` also match ``/``, ``[...]``/``[!...]`` with POSIX classes,
  backslash escapes the next character; ``iglob`` adds FNM_CASEFOLD.
  Checked against glibc's fnmatch; an unclosed ``[`` (malformed) follows
  glibc's recovery only approximately, and a case-folded range like
  ``[/-b]`` folds its ends as Python's ``re`` does.
- ``pmatch_matcher``: libsinsp's path_prefix_search: a value matches if some
  listed path's components (split on ``/``, empty ones dropped) are a prefix
  of the value's components; a component may be a glob (libs HEAD).
- ``net_matcher``: address text inside any of the given networks.
- ``TRANSFORMS``: tolower/toupper (ASCII, as C's tolower per byte), b64
  (decode; no value if invalid), basename (after the last ``/``), len
  (bytes of a string, items of a list); ``transformed`` applies one to an
  extractor's values.
- ``dynamic_glob``: glob against a pattern known only per event (``val()``).
"""
from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from typing import Callable

from falcolib.filter.operators import Transformer

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "xdigit": "0-9A-Fa-f",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}


_NEVER = re.compile("(?!)")


def glob_regex(pattern: str, *, casefold: bool = False) -> re.Pattern:
    """``pattern`` (fnmatch syntax) as a compiled regex to ``fullmatch``.

    With ``casefold`` the pattern is folded to lower case as glibc folds it
    (ranges included); the text must then be folded too: use ``glob_matcher``.
    """
    if casefold:
        pattern = _tolower(pattern)
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != ".*":
                out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            if i == n:  # a trailing backslash: fnmatch reports an error, i.e. no match
                return _NEVER
            out.append(re.escape(pattern[i]))
            i += 1
        elif c == "[":
            bracket, i = _bracket(pattern, i)
            if bracket is None:
                return _NEVER
            out.append(bracket)
        else:
            out.append(re.escape(c))
    return re.compile("".join(out), re.S)


def _bracket(pattern: str, i: int) -> tuple[str | None, int]:
    """Translate a ``[...]`` whose ``[`` ends just before ``i``; a lone ``[`` is literal."""
    n = len(pattern)
    j = i
    negate = j < n and pattern[j] in "!^"
    if negate:
        j += 1
    parts: list[str] = []
    first = True
    while j < n:
        c = pattern[j]
        if c == "]" and not first:
            if not parts:  # only empty ranges: nothing (or, negated, anything) matches
                return ("." if negate else "(?!)"), j + 1
            return ("[^" if negate else "[") + "".join(parts) + "]", j + 1
        first = False
        if c == "[" and pattern.startswith("[:", j):
            end = pattern.find(":]", j + 2)
            if end > 0:
                if pattern[j + 2:end] not in _CLASSES:
                    return None, n  # glibc: an unknown class fails the match
                parts.append(_CLASSES[pattern[j + 2:end]])
                j = end + 2
                continue
        if c == "[" and j + 1 < n and pattern[j + 1] in ".=":
            # a collating symbol [.x.] or equivalence class [=x=] of one character
            if pattern[j + 3:j + 5] != pattern[j + 1] + "]":
                return None, n
            parts.append(re.escape(pattern[j + 2]))
            j += 5
            continue
        lo, j = _bracket_char(pattern, j)
        if j + 1 < n and pattern[j] == "-" and pattern[j + 1] != "]":
            hi, j = _bracket_char(pattern, j + 1)
            if lo <= hi:  # a reversed range matches nothing
                parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
        elif j + 1 == n and pattern[j] == "-":
            return None, n  # glibc: a range cut by the pattern's end fails the whole match
        else:
            parts.append(re.escape(lo))
    return re.escape("["), i  # no closing bracket: a literal '['


def _bracket_char(pattern: str, j: int) -> tuple[str, int]:
    if pattern[j] == "\\" and j + 1 < len(pattern):
        return pattern[j + 1], j + 2
    return pattern[j], j + 1


def glob_matcher(pattern: str, *, casefold: bool = False) -> Callable[[str], bool]:
    """A predicate: does a value match ``pattern`` (``iglob`` when ``casefold``)."""
    match = glob_regex(pattern, casefold=casefold).fullmatch
    if casefold:
        return lambda value: match(_tolower(value)) is not None
    return lambda value: match(value) is not None


def _components(path: str) -> tuple[str, ...]:
    return tuple(c for c in path.split("/") if c)


_GLOB_CHARS = re.compile(r"[*?\[]")


def pmatch_matcher(paths) -> Callable[[str], bool]:
    """Whether a path lies under one of ``paths``."""
    exact: set[tuple[str, ...]] = set()
    globbed: list[tuple] = []
    lengths: set[int] = set()
    for p in paths:
        comps = _components(p)
        if not comps:
            return lambda value: True  # "/" is a prefix of every path
        if any(_GLOB_CHARS.search(c) for c in comps):
            globbed.append(tuple(glob_regex(c).fullmatch for c in comps))
        else:
            exact.add(comps)
            lengths.add(len(comps))
    sizes = sorted(lengths)

    def pmatch(value: str) -> bool:
        comps = _components(value)
        for k in sizes:
            if k > len(comps):
                break
            if comps[:k] in exact:
                return True
        for pat in globbed:
            if len(pat) <= len(comps) and all(m(c) is not None for m, c in zip(pat, comps)):
                return True
        return False
    return pmatch


@functools.lru_cache(maxsize=4096)
def parse_address(text: str):
    """An ``ipaddress`` address from a field's text (``1.2.3.4``, ``::1`` or ``a/len``)."""
    try:
        return ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError:
        return None


def net_matcher(nets) -> Callable[[str], bool]:
    nets = tuple(nets)

    def in_nets(value) -> bool:
        addr = parse_address(value)
        return addr is not None and any(addr.version == n.version and addr in n for n in nets)
    return in_nets


# ---- transformers: each maps a value (never None) to a value or None ----

_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_UPPER = {c + 32: c for c in range(ord("A"), ord("Z") + 1)}


def _tolower(v):
    return v.translate(_LOWER) if not v.isascii() else v.lower()


def _toupper(v):
    return v.translate(_UPPER) if not v.isascii() else v.upper()


def _b64(v):
    raw = v if isinstance(v, bytes) else v.encode("utf-8", "surrogateescape")
    try:
        out = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return out if isinstance(v, bytes) else out.decode("utf-8", "surrogateescape")


def _basename(v):
    return v.rpartition("/")[2]


def _len(v):
    if isinstance(v, str):
        return len(v) if v.isascii() else len(v.encode("utf-8", "surrogateescape"))
    return len(v)


TRANSFORMS: dict[Transformer, Callable] = {
    Transformer.TOLOWER: _tolower,
    Transformer.TOUPPER: _toupper,
    Transformer.B64: _b64,
    Transformer.BASENAME: _basename,
    Transformer.LEN: _len,
}


def transformed(inner, tr: Transformer, multi: bool):
    """The extractor ``inner`` with transformer ``tr`` applied to its value; on a
    multi-valued field, to each value (a value the transformer rejects is dropped)."""
    fn = TRANSFORMS[tr]
    if multi:
        def transformed_each(view, _inner=inner, _fn=fn):
            vs = _inner(view)
            if vs is None:
                return None
            return tuple(r for r in map(_fn, vs) if r is not None)
        return transformed_each

    def transformed_one(view, _inner=inner, _fn=fn):
        v = _inner(view)
        return None if v is None else _fn(v)
    return transformed_one


def dynamic_glob(casefold: bool):
    """``glob(pattern, value)`` compiling each pattern once (the last 256 kept)."""
    cached = {}

    def glob(pattern: str, value: str) -> bool:
        m = cached.get(pattern)
        if m is None:
            if len(cached) > 256:
                cached.clear()
            m = cached[pattern] = glob_matcher(pattern, casefold=casefold)
        return m(value)
    return glob
