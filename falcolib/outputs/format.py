"""The ``%field`` output format engine, with sysdig 0.29's -p semantics.

A format is text with ``%field`` tokens (sinsp_evt_formatter):
- the field name is the longest catalogue name the text continues with
  (``%evt.numx`` is evt.num then "x"); ``evt.arg.NAME``/``evt.rawarg.NAME``
  take the longest event-parameter name; ``%field[arg]`` passes an argument;
  ``%(field)`` is accepted as well (Falco outputs);
- ``%Nfield`` pads or cuts the value to N characters;
- without a leading ``*``, an event for which ANY field has no value
  prints nothing (sysdig's m_require_all_values); with ``*`` missing
  values print as ``<NA>``;
- a lone ``%`` (including ``%%``) is an error, as in sysdig.

Fields are resolved once, at construction, through the catalogue, and the
format is compiled to one generated function (literals are embedded with
repr(): nothing from the format string is ever evaluated as code).
"""
from __future__ import annotations

from typing import Any, Callable

from falcolib.errors import FilterCompileError, FormatError, Position
from falcolib.fields.catalogue import ArgKind, FIELDS, Field, FieldType, _load_all

NA = "<NA>"


_STR_TYPES = {t for t in FieldType if t.is_numeric or t.is_string} - {FieldType.DOUBLE}


def text_function(field: Field) -> Callable[[Any], str]:
    """How a field's value becomes text: its own ``render``, ``str`` for plain
    numbers and strings, else the generic conversion."""
    if field.render is not None:
        return field.render
    if field.type in _STR_TYPES and not field.is_list and not field.list_without_arg:
        return str
    return default_render


def default_render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, (list, tuple)):
        return ",".join(default_render(v) for v in value)
    return str(value)


class _Token:
    __slots__ = ("key", "get", "text", "width", "field", "arg")

    def __init__(self, key: str, get: Callable, text: Callable, width: int,
                 field: Field | None = None, arg: str | None = None):
        self.key = key        # the field as written (evt.arg.fd, proc.aname[2])
        self.get = get        # view -> value | None
        self.text = text      # value -> str
        self.width = width
        self.field = field
        self.arg = arg


# The hottest fields are read inline by the generated render function (no
# call per field): name -> (what the catalogue's extractor must still be,
# the expression over ``e_`` = view.evt / ``th_`` = view.thread, whether the
# value can be None). The inline form is used only while the catalogue holds
# that very extractor; tests/outputs check inline == extractor on captures.
def _inline_forms() -> dict[str, tuple[Callable[[Any], bool], str, bool]]:
    from falcolib.fields import evt as E
    from falcolib.fields import evt_time as ET
    from falcolib.fields import thread as TH

    def same(fn):
        return lambda f: f.extract is fn and f.binder is None

    def thread_attr(attr):
        return lambda f: (f.binder is None and f.extract.__module__ == "falcolib.fields.proc"
                          and f.extract.__name__ == "_get" and f.extract.__defaults__ == (attr,))

    return {
        "evt.num": (same(ET.evt_num), "e_.num", False),
        "evt.rawtime": (same(ET.evt_rawtime), "e_.ts", False),
        "evt.cpu": (same(E.evt_cpu), "e_.cpu", False),
        "evt.dir": (same(E.evt_dir), "('<' if e_.type & 1 else '>')", False),
        "evt.type": (same(E.evt_type), "(NAMES[e_.type] if e_.type > 1 else e_.name)", False),
        "thread.tid": (same(TH.thread_tid), "e_.tid", False),
        "proc.name": (thread_attr("comm"), "(None if th_ is None else th_.comm)", True),
        "proc.pid": (thread_attr("pid"), "(None if th_ is None else th_.pid)", True),
        "proc.exe": (thread_attr("exe"), "(None if th_ is None else th_.exe)", True),
    }


_INLINE: dict | None = None


def read_inline(field: Field) -> bool:
    """Whether ``field`` (without argument) is read by its inline form: the header or
    thread attribute the C loops (falcolib._speedups) read the same way."""
    global _INLINE
    if _INLINE is None:
        _INLINE = _inline_forms()
    spec = _INLINE.get(field.name)
    return spec is not None and spec[0](field)


def inline_form(tok: "_Token") -> tuple[str, bool] | None:
    """(expression, may be None) reading ``tok``'s field inline, or None."""
    global _INLINE
    if tok.field is None or tok.arg is not None:
        return None
    if _INLINE is None:
        _INLINE = _inline_forms()
    spec = _INLINE.get(tok.field.name)
    if spec is None or not spec[0](tok.field):
        return None
    return spec[1], spec[2]


_BY_CLASS: tuple[int, dict[str, list[tuple[str, Field]]]] | None = None


def _longest_field(s: str, start: int) -> Field | None:
    """The longest catalogue name ``s`` continues with at ``start``.

    Names are grouped by their text before the first '.', longest first, so
    only one class is scanned; a name with no '.' (or no match in the class)
    falls back to the full scan. A dotless name cannot be longer than a dotted
    match, since it would then contain the dotted name's '.'."""
    global _BY_CLASS
    if _BY_CLASS is None or _BY_CLASS[0] != len(FIELDS):
        groups: dict[str, list[tuple[str, Field]]] = {}
        for name, f in FIELDS.items():
            groups.setdefault(name.split(".", 1)[0], []).append((name, f))
        for g in groups.values():
            g.sort(key=lambda item: -len(item[0]))
        _BY_CLASS = (len(FIELDS), groups)
    dot = s.find(".", start)
    if dot > start:
        for name, f in _BY_CLASS[1].get(s[start:dot], ()):
            if s.startswith(name, start):
                return f
    best = None
    for name, f in FIELDS.items():
        if s.startswith(name, start) and (best is None or len(name) > len(best.name)):
            best = f
    return best


def _suffix(fmt: str, field: Field, at: int) -> tuple[str | None, int]:
    """For a NAME_SUFFIX field at ``at`` (just after its name): the suffix and the end."""
    if at >= len(fmt) or fmt[at] not in ".[":
        return None, at
    if fmt[at] == "[":
        end = fmt.find("]", at)
        if end < 0:
            raise FormatError(f"unterminated '[' after %{field.name}",
                              position=Position(file="<format>", column=at + 1))
        return fmt[at + 1:end], end + 1
    rest = fmt[at + 1:]
    if field.name in ("evt.arg", "evt.rawarg"):
        from falcolib.decode.args import longest_param_name
        name = longest_param_name(rest)
        if name is None:
            raise FormatError(f"unknown event argument in %{field.name}.{rest.split()[0] if rest.split() else ''}",
                              position=Position(file="<format>", column=at + 1))
        return name, at + 1 + len(name)
    n = 0
    while n < len(rest) and (rest[n].isalnum() or rest[n] in "_.-"):
        n += 1
    return rest[:n], at + 1 + n


class Formatter:
    """``Formatter(fmt).render(view)`` -> the line, or None when sysdig prints nothing."""

    def __init__(self, fmt: str):
        if not fmt:
            raise FormatError("empty format")
        self.format = fmt
        self.require_all = not fmt.startswith("*")
        body = fmt[1:] if not self.require_all else fmt
        _load_all()
        self._parts: list[str | _Token] = []
        self._tokens: list[_Token] = []
        self._parse(body)

    def _error(self, msg: str, col: int) -> FormatError:
        return FormatError(msg, position=Position(file="<format>", column=col + 1))

    def _parse(self, s: str) -> None:
        i = 0
        n = len(s)
        while i < n:
            pct = s.find("%", i)
            if pct < 0:
                break
            if pct > i:
                self._parts.append(s[i:pct])
            i = pct
            j = i + 1
            if j >= n:
                raise self._error("invalid format: it cannot end with a %", i)
            width = 0
            while j < n and s[j].isdigit():
                j += 1
            if j > i + 1:
                width = int(s[i + 1:j])
                if j >= n:
                    raise self._error("invalid format: it cannot end with a number", i)
            paren = s[j] == "("
            start = j + 1 if paren else j
            field = _longest_field(s, start)
            if field is None:
                word = s[start:].split()[0] if s[start:].split() else s[start:]
                raise self._error(f"unknown field in format: %{word}", start - 1)
            end = start + len(field.name)
            arg = None
            if field.arg is ArgKind.NAME_SUFFIX:
                arg, end = _suffix(s, field, end)
            elif end < n and s[end] == "[":
                close = s.find("]", end)
                if close < 0:
                    raise self._error(f"unterminated '[' after %{field.name}", end)
                arg, end = s[end + 1:close], close + 1
            if paren:
                if end >= n or s[end] != ")":
                    raise self._error(f"expected ')' after %({s[start:end]}", end)
                key = s[start:end]
                end += 1
            else:
                key = s[start:end]
            try:
                get = field.bind(arg)
            except FilterCompileError as exc:
                raise self._error(f"{exc} (in format)", start) from None
            tok = _Token(key, get, text_function(field), width, field, arg)
            self._parts.append(tok)
            self._tokens.append(tok)
            i = end
        if i < n:
            self._parts.append(s[i:])
        self._functions: list[Callable | None] = [None, None]   # lenient, strict: made on use

    def _compile(self, require: bool) -> Callable[[Any], str | None]:
        """Generate ``render(view)`` for this format: one straight-line function,
        no loop or per-part type test per event; the hottest fields are read
        inline, and the line is one f-string."""
        from falcolib.fields.evt import _NAMES
        env: dict[str, Any] = {"NA": NA, "NAMES": _NAMES}
        body: list[str] = []
        pieces = []
        uses_evt = uses_thread = False
        for k, p in enumerate(self._parts):
            if type(p) is str:
                pieces.append(repr(p))
                continue
            inline = inline_form(p)
            if inline is not None:
                expr, nullable = inline
                uses_evt = uses_evt or "e_." in expr
                uses_thread = uses_thread or "th_" in expr
                body.append(f"    v{k} = {expr}")
            else:
                env[f"g{k}"] = p.get
                body.append(f"    v{k} = g{k}(view)")
                nullable = True
            text = p.text
            plain = text is str and not p.width
            if not plain:
                env[f"t{k}"] = text
            val = f"v{k}" if plain else f"t{k}(v{k})"
            if nullable and require:
                body.append(f"    if v{k} is None: return None")
            elif nullable:
                val = f"NA if v{k} is None else {val}"
            if p.width:
                val = f"({val})[:{p.width}].ljust({p.width})"
            pieces.append("f'{" + val + "}'")
        lines = ["def render(view):"]
        if uses_evt:
            lines.append("    e_ = view.evt")
        if uses_thread:
            lines.append("    th_ = view.thread")
        lines += body
        lines.append("    return " + (" ".join(pieces) if pieces else "''"))
        exec(compile("\n".join(lines), f"<format {self.format!r}>", "exec"), env)  # noqa: S102
        return env["render"]

    def plan(self) -> list[tuple[str, object]] | None:
        """This format as ``("text", bytes)`` and ``("field", name)`` parts when every
        field is one the C printer (falcolib._speedups.Printer) reads exactly as the
        generated function does (an inline form, no argument, no width); else None."""
        parts: list[tuple[str, object]] = []
        for p in self._parts:
            if type(p) is str:
                parts.append(("text", p.encode("utf-8", "surrogateescape")))
            elif p.width or inline_form(p) is None:
                return None
            else:
                parts.append(("field", p.field.name))
        return parts

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(t.key for t in self._tokens)

    @property
    def field_names(self) -> frozenset[str]:
        """The catalogue names of the fields used (evt.arg.fd -> evt.arg)."""
        return frozenset(t.field.name for t in self._tokens)

    def render(self, view, always: bool | None = None) -> str | None:
        """The formatted line; None when a field has no value and the format
        did not start with '*' (``always=True`` prints <NA> regardless)."""
        require = self.require_all if always is None else not always
        fn = self._functions[require] or self.line_function(require)
        return fn(view)

    def line_function(self, require: bool | None = None) -> Callable[[Any], str | None]:
        """The generated ``render(view)`` itself (no wrapper call per event): with
        ``require`` (default: no leading '*') it returns None when a field has no value."""
        require = self.require_all if require is None else require
        fn = self._functions[require]
        if fn is None:
            fn = self._functions[require] = self._compile(require)
        return fn

    def values(self, view) -> dict[str, Any]:
        """Field (as written) -> Python value (None for <NA>): Falco's output_fields."""
        return {t.key: t.get(view) for t in self._tokens}

    def texts(self, view) -> dict[str, str]:
        """Field (as written) -> printed text (<NA> when missing)."""
        out = {}
        for t in self._tokens:
            v = t.get(view)
            out[t.key] = NA if v is None else t.text(v)
        return out

    def __repr__(self) -> str:
        return f"Formatter({self.format!r})"
