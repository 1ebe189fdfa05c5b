"""A small reader of the kernel's BTF (/sys/kernel/btf/vmlinux): struct member offsets.

The BPF program reads kernel structures by byte offset. Headers bcc
compiles against may belong to another kernel (here 6.1 headers for a
6.18 kernel), so every offset comes from the running kernel's own type
information instead. Only what offsets need is decoded: struct/union
members (through anonymous members), typedef/modifier chains, arrays and
enum values.
"""
from __future__ import annotations

import struct

import attrs

BTF_MAGIC = 0xEB9F
VMLINUX = "/sys/kernel/btf/vmlinux"

# kind -> bytes following the 12-byte common header (per vlen entry, fixed)
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_VOLATILE, _CONST, _RESTRICT, _FUNC, _FUNC_PROTO, _VAR, _DATASEC = 9, 10, 11, 12, 13, 14, 15
_FLOAT, _DECL_TAG, _TYPE_TAG, _ENUM64 = 16, 17, 18, 19
_FIXED = {_INT: 4, _ARRAY: 12, _VAR: 4, _DECL_TAG: 4}
_PER_ITEM = {_STRUCT: 12, _UNION: 12, _ENUM: 8, _FUNC_PROTO: 8, _DATASEC: 12, _ENUM64: 12}
_MODIFIERS = (_TYPEDEF, _VOLATILE, _CONST, _RESTRICT, _TYPE_TAG)


class BtfError(Exception):
    """The BTF blob is malformed or lacks a requested type or member."""


@attrs.frozen
class Member:
    name: str
    offset: int  # bytes from the start of the enclosing type
    size: int    # bytes of the member's type (0 when unknown)
    type_id: int


class Btf:
    """Types of one BTF blob, indexed by id; struct names looked up lazily."""

    def __init__(self, blob: bytes):
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", blob, 0)
        if magic != BTF_MAGIC:
            raise BtfError("not a BTF blob (bad magic)")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", blob, 8)
        self._blob = blob
        self._types_start = hdr_len + type_off
        self._strs = hdr_len + str_off
        self._str_end = self._strs + str_len
        # type id -> offset of its header; id 0 is void
        self._off: list[int] = [0]
        self._by_name: dict[tuple[int, str], int] = {}
        pos, end = self._types_start, self._types_start + type_len
        unpack = struct.unpack_from
        while pos < end:
            name_off, info, _ = unpack("<III", blob, pos)
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            self._off.append(pos)
            if name_off and kind in (_STRUCT, _UNION, _ENUM, _ENUM64, _TYPEDEF):
                key = (kind if kind != _ENUM64 else _ENUM, self._str(name_off))
                self._by_name.setdefault(key, len(self._off) - 1)
            pos += 12 + _FIXED.get(kind, 0) + _PER_ITEM.get(kind, 0) * vlen

    @classmethod
    def from_file(cls, path: str = VMLINUX) -> "Btf":
        with open(path, "rb") as fh:
            return cls(fh.read())

    def _str(self, off: int) -> str:
        start = self._strs + off
        end = self._blob.index(b"\0", start, self._str_end)
        return self._blob[start:end].decode()

    def _hdr(self, tid: int) -> tuple[int, int, int, int, int]:
        pos = self._off[tid]
        name_off, info, size_or_type = struct.unpack_from("<III", self._blob, pos)
        return pos, name_off, (info >> 24) & 0x1F, info & 0xFFFF, size_or_type

    def _resolve(self, tid: int) -> int:
        """Follow typedefs and qualifiers to the underlying type id."""
        for _ in range(32):
            _pos, _n, kind, _v, nxt = self._hdr(tid)
            if kind not in _MODIFIERS:
                return tid
            tid = nxt
        raise BtfError(f"type chain too long at id {tid}")

    def sizeof(self, tid: int) -> int:
        tid = self._resolve(tid)
        if tid == 0:
            return 0
        pos, _n, kind, _v, size = self._hdr(tid)
        if kind in (_INT, _STRUCT, _UNION, _ENUM, _ENUM64, _FLOAT):
            return size
        if kind == _PTR:
            return 8
        if kind == _ARRAY:
            elem, _index, nelems = struct.unpack_from("<III", self._blob, pos + 12)
            return self.sizeof(elem) * nelems
        return 0

    def struct_id(self, name: str) -> int:
        for kind in (_STRUCT, _UNION):
            tid = self._by_name.get((kind, name))
            if tid is not None:
                return tid
        raise BtfError(f"no struct {name!r} in kernel BTF")

    def _members(self, tid: int):
        pos, _n, kind, vlen, _size = self._hdr(self._resolve(tid))
        if kind not in (_STRUCT, _UNION):
            return
        kflag = struct.unpack_from("<I", self._blob, pos + 4)[0] >> 31
        for i in range(vlen):
            name_off, mtype, moff = struct.unpack_from("<III", self._blob, pos + 12 + 12 * i)
            bits = moff & 0xFFFFFF if kflag else moff
            yield (self._str(name_off) if name_off else ""), mtype, bits // 8

    def member(self, tid: int, name: str) -> Member | None:
        """The member ``name`` of type ``tid``, searching anonymous members too."""
        for mname, mtype, off in self._members(tid):
            if mname == name:
                return Member(name, off, self.sizeof(mtype), mtype)
            if not mname:
                inner = self.member(mtype, name)
                if inner is not None:
                    return Member(name, off + inner.offset, inner.size, inner.type_id)
        return None

    def offset(self, struct_name: str, path: str) -> int:
        """Byte offset of a dotted member path (``"d_name.name"``) inside a struct."""
        return self.field(struct_name, path).offset

    def field(self, struct_name: str, path: str) -> Member:
        tid = self.struct_id(struct_name)
        total = 0
        found = None
        for part in path.split("."):
            found = self.member(tid, part)
            if found is None:
                raise BtfError(f"struct {struct_name} has no member {path!r}")
            total += found.offset
            tid = found.type_id
        return Member(path, total, found.size, found.type_id)

    def has(self, struct_name: str, path: str) -> bool:
        try:
            self.field(struct_name, path)
        except BtfError:
            return False
        return True

    def enum_values(self, name: str) -> dict[str, int]:
        tid = self._by_name.get((_ENUM, name))
        if tid is None:
            raise BtfError(f"no enum {name!r} in kernel BTF")
        pos, _n, kind, vlen, _size = self._hdr(tid)
        out = {}
        if kind == _ENUM:
            for i in range(vlen):
                n, v = struct.unpack_from("<Ii", self._blob, pos + 12 + 8 * i)
                out[self._str(n)] = v
        else:
            for i in range(vlen):
                n, lo, hi = struct.unpack_from("<III", self._blob, pos + 12 + 12 * i)
                out[self._str(n)] = lo | (hi << 32)
        return out

    def struct_size(self, name: str) -> int:
        return self.sizeof(self.struct_id(name))
