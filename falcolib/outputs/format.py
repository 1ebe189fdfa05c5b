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
    __slots__ = ("key", "get", "text", "width")

    def __init__(self, key: str, get: Callable, text: Callable, width: int):
        self.key = key        # the field as written (evt.arg.fd, proc.aname[2])
        self.get = get        # view -> value | None
        self.text = text      # value -> str
        self.width = width


def _longest_field(s: str, start: int) -> Field | None:
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
        from falcolib.decode.render import longest_param_name
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
        lit = []
        n = len(s)
        while i < n:
            c = s[i]
            if c != "%":
                lit.append(c)
                i += 1
                continue
            if lit:
                self._parts.append("".join(lit))
                lit = []
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
            tok = _Token(key, get, text_function(field), width)
            self._parts.append(tok)
            self._tokens.append(tok)
            i = end
        if lit:
            self._parts.append("".join(lit))
        self._render_strict = self._compile(True)
        self._render_lenient = self._compile(False)

    def _compile(self, require: bool) -> Callable[[Any], str | None]:
        """Generate ``render(view)`` for this format: one straight-line function,
        no loop or per-part type test per event."""
        env: dict[str, Any] = {"NA": NA}
        lines = ["def render(view):"]
        pieces = []
        for k, p in enumerate(self._parts):
            if type(p) is str:
                pieces.append(repr(p))
                continue
            env[f"g{k}"], env[f"t{k}"] = p.get, p.text
            lines.append(f"    v{k} = g{k}(view)")
            if require:
                lines.append(f"    if v{k} is None: return None")
                expr = f"t{k}(v{k})"
            else:
                expr = f"(NA if v{k} is None else t{k}(v{k}))"
            if p.width:
                expr = f"{expr}[:{p.width}].ljust({p.width})"
            pieces.append(expr)
        lines.append("    return " + (" + ".join(pieces) if pieces else "''"))
        exec(compile("\n".join(lines), f"<format {self.format!r}>", "exec"), env)  # noqa: S102
        return env["render"]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(t.key for t in self._tokens)

    def render(self, view, always: bool | None = None) -> str | None:
        """The formatted line; None when a field has no value and the format
        did not start with '*' (``always=True`` prints <NA> regardless)."""
        require = self.require_all if always is None else not always
        return self._render_strict(view) if require else self._render_lenient(view)

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
