"""Turning a condition's literal text into the value a field's type compares with.

Done once, at compile time, as libsinsp's value parser does; a literal the
field's type cannot hold is a FilterCompileError naming the field.
Integers accept decimal and ``0x`` hex; unsigned types wrap negative
numbers as C's ``strtoull`` does; ``PORT`` is digits only or a service
name (``http``), as libsinsp's value parser; ``BOOL`` is ``true``/``false``; IP addresses are canonical text;
networks need a ``/prefix``.
"""
from __future__ import annotations

import ipaddress
import socket

from falcolib.errors import FilterCompileError
from falcolib.fields.catalogue import FieldType

STRING_TYPES = frozenset({FieldType.CHARBUF, FieldType.FSPATH, FieldType.FSRELPATH})
ADDR_TYPES = frozenset({FieldType.IPV4ADDR, FieldType.IPV6ADDR, FieldType.IPADDR})
NET_TYPES = frozenset({FieldType.IPV4NET, FieldType.IPV6NET, FieldType.IPNET})

_UNSIGNED_BITS = {
    FieldType.UINT8: 8, FieldType.UINT16: 16, FieldType.UINT32: 32, FieldType.UINT64: 64,
    FieldType.RELTIME: 64, FieldType.ABSTIME: 64, FieldType.PORT: 16, FieldType.UID: 32,
    FieldType.GID: 32, FieldType.FLAGS32: 32, FieldType.MODE: 32, FieldType.SIGTYPE: 8,
    FieldType.SYSCALLID: 16, FieldType.L4PROTO: 8,
}


def type_family(ftype: FieldType) -> str:
    """``string``, ``bytes``, ``number``, ``bool``, ``addr`` or ``net``."""
    if ftype in STRING_TYPES:
        return "string"
    if ftype is FieldType.BYTEBUF:
        return "bytes"
    if ftype is FieldType.BOOL:
        return "bool"
    if ftype in ADDR_TYPES:
        return "addr"
    if ftype in NET_TYPES:
        return "net"
    return "number"


def convert(text: str, ftype: FieldType, field: str, *, hex_bytes: bool = False):
    """The compare-ready value of literal ``text`` for a field of type ``ftype``."""
    family = type_family(ftype)
    try:
        if family == "string":
            return text
        if family == "bytes":
            if hex_bytes:
                return bytes.fromhex(text)
            return text.encode("utf-8", "surrogateescape")
        if family == "bool":
            if text not in ("true", "false"):
                raise ValueError("expected true or false")
            return text == "true"
        if family == "addr":
            if "/" in text:
                raise ValueError("an address takes no /prefix")
            return str(ipaddress.ip_address(text))
        if family == "net":
            if "/" not in text:
                raise ValueError("a network needs a /prefix")
            return ipaddress.ip_network(text, strict=False)
        return _number(text, ftype)
    except (ValueError, OSError) as exc:
        what = "hex bytes" if hex_bytes else ftype.value
        detail = str(exc)
        raise FilterCompileError(
            f"field {field!r}: {text!r} is not a valid {what} value"
            + (f" ({detail})" if detail and not detail.startswith("invalid literal") else "")
        ) from None


def _number(text: str, ftype: FieldType):
    if ftype is FieldType.DOUBLE:
        return float(text)
    if ftype is FieldType.PORT:
        return _port(text)
    t = text.strip()
    neg = t.startswith("-")
    body = t.lstrip("+-")
    if body[:2].lower() == "0x":
        value = int(body[2:], 16)
    else:
        value = int(body, 10)  # ValueError for "1.5", "abc"
    if neg:
        value = -value
    bits = _UNSIGNED_BITS.get(ftype)
    if bits is not None and value < 0:
        value &= (1 << bits) - 1
    return value


_DIGITS = frozenset("0123456789")


def _port(text: str) -> int:
    """libsinsp's PT_PORT parsing: empty is 0, ASCII digits only are a number
    (kept to 16 bits), anything else a service name for getservbyname."""
    if not text:
        return 0
    if _DIGITS.issuperset(text):
        value = int(text, 10)
        if value > 0x7FFFFFFF:   # std::stoi's range
            raise ValueError("out of range")
        return value & 0xFFFF
    try:
        return socket.getservbyname(text)
    except OSError:
        raise ValueError(f"unrecognized protocol {text}") from None


def transformed_type(tr, ftype: FieldType, is_list: bool, ref) -> tuple[FieldType, bool]:
    """The (type, is_list) transformer ``tr`` yields on field ``ref``; libsinsp's
    transform_type rules."""
    from falcolib.filter.operators import Transformer
    family = type_family(ftype)
    if tr is Transformer.LEN:
        if is_list or family in ("string", "bytes"):
            return FieldType.UINT64, False
    elif tr is Transformer.B64:
        if family in ("string", "bytes"):
            return ftype, is_list
    elif family == "string":  # on a list field: applied to each value
        return ftype, is_list
    raise FilterCompileError(
        f"transformer {tr.value}() cannot apply to {'list ' if is_list else ''}field "
        f"{ref.display!r} of type {ftype.value}", position=ref.position)


def list_texts(value, op, name: str, ref) -> list[str]:
    """The literal texts of the right side of a list operator (``in``, ``pmatch``...)."""
    from falcolib.filter import ast
    match value:
        case ast.ListValue(items):
            return [i.text if isinstance(i, ast.Literal) else i.name for i in items]
        case ast.ListRef(n):  # an unresolved list name: libsinsp takes it as one value
            return [n]
        case ast.Literal(text):
            return [text]
    raise FilterCompileError(f"operator {op.value!r} on {name!r} needs a list",
                             position=ref.position)


def convert_at(text: str, ftype: FieldType, ref, *, hex_bytes: bool = False):
    """``convert`` for field ``ref``, an error placed at the field."""
    try:
        return convert(text, ftype, ref.display, hex_bytes=hex_bytes)
    except FilterCompileError as exc:
        raise FilterCompileError(exc.message, position=ref.position) from None
