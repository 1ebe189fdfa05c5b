"""Symbolic names of flag, enum and mode values, errnos and signals.

The tables are the driver's flags_table.c (``_data.FLAG_TABLES``, current
libs); ``SYSDIG_TABLES`` is what sysdig 0.29 prints with (its own older
tables where they differ). ``flags_text`` is sysdig 0.29's rendering of a flag
set (and of a mode, in both versions); ``current_flags_text`` current libs'.
"""
from __future__ import annotations

from falcolib.decode import _data

FLAG_TABLES: dict[str, tuple[tuple[str, int], ...]] = dict(_data.FLAG_TABLES)
SYSDIG_TABLES: dict[str, tuple[tuple[str, int], ...]] = {**FLAG_TABLES, **_data.SYSDIG_FLAG_TABLES}
ERRNO_NAMES: dict[int, str] = dict(_data.ERRNO_NAMES)
SIGNAL_NAMES: dict[int, str] = dict(_data.SIGNAL_NAMES)
PPM_AT_FDCWD = -100


# rendered flag sets, per (algorithm, table): the same few values recur on every
# event (bounded)
_TEXTS: dict[tuple, tuple[tuple, dict[int, str]]] = {}
_TEXTS_MAX = 4096


def _memo(algo, table: tuple[tuple[str, int], ...] | None, value: int) -> str:
    if not table:
        return ""
    key = (algo, id(table))
    hit = _TEXTS.get(key)
    if hit is None or hit[0] is not table:
        if len(_TEXTS) >= 256:
            _TEXTS.clear()
        hit = _TEXTS[key] = (table, {})
    texts = hit[1]
    text = texts.get(value)
    if text is None:
        text = algo(table, value)
        if len(texts) >= _TEXTS_MAX:
            texts.clear()
        texts[value] = text
    return text


def flags_text(table: tuple[tuple[str, int], ...] | None, value: int) -> str:
    """sysdig's rendering of a flag set: the names of the table's entries
    present in ``value``, in table order, joined with '|'. An entry equal
    to the whole value ends the scan; a zero entry matches only zero.
    Current libs render a PT_MODE this same way."""
    return _memo(_flags_text, table, value)


def current_flags_text(table: tuple[tuple[str, int], ...] | None, value: int,
                       exact: bool = False) -> str:
    """Current libs' rendering (sinsp_evt::get_param_as_str) of a PT_FLAGS value, or
    with ``exact`` of a PT_ENUMFLAGS one: every entry equal to the value."""
    return _memo(_enum_names if exact else _current_flags, table, value)


def _flags_text(table: tuple[tuple[str, int], ...], value: int) -> str:
    names = []
    rest = value
    for name, fv in table:
        if fv == value:
            names.append(name)
            break
        if (fv == 0 and value == 0) or (fv != 0 and rest & fv == fv and rest != 0):
            names.append(name)
            rest &= ~fv
    return "|".join(names)


def _current_flags(table: tuple[tuple[str, int], ...], value: int) -> str:
    """An entry matches while its bits are all still in the value (a zero entry:
    only a zero value); its bits are then taken out, and the scan ends after an
    entry equal to the whole value."""
    names = []
    rest = value
    for name, fv in table:
        if (fv == 0 and value == 0) or (fv != 0 and rest & fv == fv and rest != 0):
            names.append(name)
            rest &= ~fv
            if fv == value:
                break
    return "|".join(names)


def _enum_names(table: tuple[tuple[str, int], ...], value: int) -> str:
    """Every name of the value (AF_LOCAL|AF_UNIX), in table order."""
    return "|".join(name for name, fv in table if fv == value)


def enum_text(table: tuple[tuple[str, int], ...] | None, value: int) -> str:
    """An ENUMFLAGS value: the one name equal to it (current libs semantics)."""
    for name, fv in table or ():
        if fv == value:
            return name
    return ""


def errno_name(value: int) -> str:
    """'ENOENT' for -2; '' when sysdig has no name for it."""
    v = -((value + (1 << 31)) % (1 << 32) - (1 << 31))  # as sysdig: -(int32_t)value
    return ERRNO_NAMES.get(v, "")


def signal_name(value: int) -> str | None:
    return SIGNAL_NAMES.get(value)
