"""The field catalogue: every filter/output field declared once, with its extractor.

A field's declaration feeds the filter compiler (name, argument and
literal checks), the ``%field`` formatter, ``falcolib fields`` and
``docs/fields.md``. Extractors take an ``EventView`` (``falcolib.state.view``)
and return a Python value or ``None`` (no value: ``<NA>`` in output, and
no comparison matches except ``not ... exists``).

Value conventions by type: CHARBUF/FSPATH/IP text types -> str; integer
types, RELTIME, ABSTIME, PORT -> int; BOOL -> bool; BYTEBUF -> bytes;
IPADDR/IPNET -> str in canonical text form. A field may return a list or
tuple of values when ``is_list`` (e.g. proc.cmdnargs is not, evt.args is not,
``proc.aname`` without argument used with ``in``/``intersects``).
"""
from __future__ import annotations

import enum
from typing import Any, Callable, Iterator

import attrs

from falcolib.errors import FilterCompileError


class FieldType(enum.Enum):
    CHARBUF = "CHARBUF"
    BYTEBUF = "BYTEBUF"
    INT8 = "INT8"
    INT16 = "INT16"
    INT32 = "INT32"
    INT64 = "INT64"
    UINT8 = "UINT8"
    UINT16 = "UINT16"
    UINT32 = "UINT32"
    UINT64 = "UINT64"
    BOOL = "BOOL"
    RELTIME = "RELTIME"
    ABSTIME = "ABSTIME"
    IPV4ADDR = "IPV4ADDR"
    IPV4NET = "IPV4NET"
    IPV6ADDR = "IPV6ADDR"
    IPV6NET = "IPV6NET"
    IPADDR = "IPADDR"
    IPNET = "IPNET"
    PORT = "PORT"
    L4PROTO = "L4PROTO"
    FD = "FD"
    PID = "PID"
    ERRNO = "ERRNO"
    FSPATH = "FSPATH"
    FSRELPATH = "FSRELPATH"
    MODE = "MODE"
    SIGTYPE = "SIGTYPE"
    DOUBLE = "DOUBLE"
    UID = "UID"
    GID = "GID"
    SYSCALLID = "SYSCALLID"
    FLAGS32 = "FLAGS32"

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC

    @property
    def is_string(self) -> bool:
        return self in (FieldType.CHARBUF, FieldType.FSPATH, FieldType.FSRELPATH)


_NUMERIC = {
    FieldType.INT8, FieldType.INT16, FieldType.INT32, FieldType.INT64,
    FieldType.UINT8, FieldType.UINT16, FieldType.UINT32, FieldType.UINT64,
    FieldType.RELTIME, FieldType.ABSTIME, FieldType.PORT, FieldType.FD,
    FieldType.PID, FieldType.ERRNO, FieldType.UID, FieldType.GID,
    FieldType.SYSCALLID, FieldType.FLAGS32, FieldType.MODE, FieldType.SIGTYPE,
    FieldType.DOUBLE, FieldType.L4PROTO,
}


class ArgKind(enum.Enum):
    NONE = "none"            # proc.name
    INDEX = "index"          # proc.aname[2]: integer argument, required
    OPT_INDEX = "opt_index"  # proc.aname or proc.aname[2]
    KEY = "key"              # proc.env[HOME], evt.arg[name] (string, required)
    OPT_KEY = "opt_key"      # string, optional
    NAME_SUFFIX = "suffix"   # evt.arg.NAME / evt.rawarg.NAME (the name after the dot)


Extractor = Callable[..., Any]


@attrs.frozen
class Field:
    """One filter/output field. ``extract(view)`` or ``extract(view, arg)``."""

    name: str
    type: FieldType
    desc: str
    extract: Extractor = attrs.field(eq=False, repr=False)
    arg: ArgKind = ArgKind.NONE
    is_list: bool = False
    filter_only: bool = False
    render: Callable[[Any], str] | None = attrs.field(default=None, eq=False, repr=False)
    # what a view needs for this field: "event", "thread", "fd", "user", "container"
    needs: frozenset[str] = frozenset({"event"})
    field_class: str = ""
    # an OPT_INDEX/OPT_KEY field that, used without its argument, yields every
    # value (proc.aname: all ancestors' names, matched any-of as sysdig does)
    list_without_arg: bool = False
    # optional factory ``binder(arg) -> extractor(view)`` used by bind() instead of
    # wrapping ``extract``: lets a field check its argument and pre-resolve work once
    # at compile time, or keep per-use state (evt.deltatime)
    binder: Callable[[Any], Callable[[Any], Any]] | None = attrs.field(
        default=None, eq=False, repr=False)
    # with list_without_arg: ``!=`` holds only when EVERY value differs (sysdig's
    # fd.ip/fd.net/fd.port/fd.proto: client or server side), not when any one does
    ne_all: bool = False
    # optional ``check_literal(text)`` run by the compiler on each literal compared with
    # this field; raises FilterCompileError for a value libsinsp refuses (evt.type = opne)
    check_literal: Callable[[str], None] | None = attrs.field(default=None, eq=False, repr=False)
    # optional ``arg_type(arg) -> FieldType`` for a field whose type depends on its
    # argument (evt.rawarg.NAME: the parameter's type); the compiler types literals by it
    arg_type: Callable[[Any], FieldType] | None = attrs.field(default=None, eq=False, repr=False)

    def bind(self, arg: str | int | None = None) -> Callable[[Any], Any]:
        """A one-argument extractor with the argument applied (done once, at compile time)."""
        if self.arg is ArgKind.NONE:
            if arg is not None:
                raise FilterCompileError(f"field {self.name!r} takes no argument (got [{arg}])")
            return self.binder(None) if self.binder is not None else self.extract
        if arg is None and self.arg in (ArgKind.INDEX, ArgKind.KEY, ArgKind.NAME_SUFFIX):
            raise FilterCompileError(f"field {self.name!r} requires an argument")
        if self.arg in (ArgKind.INDEX, ArgKind.OPT_INDEX) and arg is not None:
            try:
                arg = int(arg)
            except (TypeError, ValueError):
                raise FilterCompileError(
                    f"field {self.name!r} takes an integer argument (got {arg!r})") from None
        if self.binder is not None:
            return self.binder(arg)
        fn = self.extract
        return lambda view, _fn=fn, _arg=arg: _fn(view, _arg)


@attrs.define
class FieldClass:
    """A group of fields (evt, proc, fd, ...) declared with the ``field`` decorator."""

    name: str
    desc: str
    fields: dict[str, Field] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        CLASSES[self.name] = self

    def field(self, name: str, ftype: FieldType, desc: str, *, arg: ArgKind = ArgKind.NONE,
              is_list: bool = False, filter_only: bool = False, render=None,
              needs: frozenset[str] | set[str] = frozenset({"event"}),
              aliases: tuple[str, ...] = (), list_without_arg: bool = False,
              binder=None, ne_all: bool = False, check_literal=None, arg_type=None):
        def deco(fn: Extractor) -> Extractor:
            for n in (name, *aliases):
                f = Field(n, ftype, desc, fn, arg, is_list, filter_only, render,
                          frozenset(needs), self.name, list_without_arg, binder, ne_all,
                          check_literal, arg_type)
                if n in FIELDS:
                    raise ValueError(f"field {n!r} declared twice")
                FIELDS[n] = f
                self.fields[n] = f
            return fn
        return deco


FIELDS: dict[str, Field] = {}
CLASSES: dict[str, FieldClass] = {}


def _load_all() -> None:
    # importing the field modules fills FIELDS; done on first lookup
    from falcolib.fields import load_field_modules
    load_field_modules()


def lookup(name: str) -> Field:
    """The Field called ``name`` (``evt.arg.fd`` resolves to ``evt.arg`` + suffix)."""
    _load_all()
    f = FIELDS.get(name)
    if f is not None:
        return f
    # evt.arg.NAME, evt.rawarg.NAME, etc.: the longest declared prefix with a suffix arg
    head, dot, _ = name.rpartition(".")
    while dot:
        f = FIELDS.get(head)
        if f is not None and f.arg is ArgKind.NAME_SUFFIX:
            return f
        head, dot, _ = head.rpartition(".")
    raise FilterCompileError(f"unknown field {name!r}")


def resolve(name: str, arg: str | None = None) -> Callable[[Any], Any]:
    """Resolve ``name`` (and ``[arg]``) to a bound one-argument extractor."""
    f = lookup(name)
    if f.arg is ArgKind.NAME_SUFFIX and name != f.name:
        suffix = name[len(f.name) + 1:]
        return f.bind(suffix)
    return f.bind(arg)


def all_fields() -> Iterator[Field]:
    _load_all()
    return iter(sorted(FIELDS.values(), key=lambda f: f.name))
