"""Config value checkers: how one key's YAML node becomes a checked Python value.

Each checker is ``check(ctx, node, key) -> value``: ``ctx`` is the load's
``LoadContext`` (a YAML constructor, the positions of ``--set`` values, the ignored keys
found), ``key`` the dotted name used in messages. A wrong value raises ConfigError at
the node's file:line:column. ``falcolib.config`` declares its sections with these.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import yaml

from falcolib.errors import ConfigError, Position

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w|y)?\s*$")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
           "d": 86400.0, "w": 604800.0, "y": 31536000.0, None: 1e-3}


def _position(node: yaml.Node, origin: Position | None = None) -> Position:
    mark = node.start_mark
    if origin is not None:  # a --set value: column inside the command-line argument
        return Position(origin.file, 1, origin.column + mark.column)
    return Position(mark.name, mark.line + 1, mark.column + 1)


class LoadContext:
    """Per-load state: a YAML constructor and the ignored keys found."""

    def __init__(self) -> None:
        self.loader = yaml.SafeLoader("")
        self.ignored: list[tuple[str, Position]] = []
        self.origins: dict[int, Position] = {}
        self.fixed: dict[int, Position] = {}

    def where(self, node: yaml.Node) -> Position:
        fixed = self.fixed.get(id(node))
        return fixed if fixed is not None else _position(node, self.origins.get(id(node)))

    def fail(self, node: yaml.Node, message: str, hint: str = "") -> ConfigError:
        return ConfigError(message, position=self.where(node), hint=hint)

    def scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"'{key}' must be a single value (got a "
                                  f"{'list' if isinstance(node, yaml.SequenceNode) else 'mapping'})")
        return self.loader.construct_object(node, deep=True)


# -- value checkers: (ctx, node, key) -> python value ---------------------------------------
def _describe(value: Any) -> str:
    return f"{value!r} that is a {type(value).__name__}"


def boolean(ctx: LoadContext, node: yaml.Node, key: str) -> bool:
    value = ctx.scalar(node, key)
    if not isinstance(value, bool):
        raise ctx.fail(node, f"'{key}' must be true or false (got {_describe(value)})")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable:
    def check(ctx: LoadContext, node: yaml.Node, key: str) -> int:
        value = ctx.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ctx.fail(node, f"'{key}' must be an integer (got {_describe(value)})")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ctx.fail(node, f"'{key}' must be in [{minimum}, {maximum}] (got {value})")
        return value
    return check


def number(minimum: float | None = None, maximum: float | None = None) -> Callable:
    def check(ctx: LoadContext, node: yaml.Node, key: str) -> float:
        value = ctx.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ctx.fail(node, f"'{key}' must be a number (got {_describe(value)})")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ctx.fail(node, f"'{key}' must be in [{minimum}, {maximum}] (got {value})")
        return float(value)
    return check


def string(ctx: LoadContext, node: yaml.Node, key: str) -> str:
    value = ctx.scalar(node, key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ctx.fail(node, f"'{key}' must be a string (got {_describe(value)})")
    return value


def choice(*names: str) -> Callable:
    def check(ctx: LoadContext, node: yaml.Node, key: str) -> str:
        value = string(ctx, node, key)
        if value.lower() not in names:
            raise ctx.fail(node, f"'{key}' must be one of {', '.join(names)} (got {value!r})")
        return value.lower()
    return check


def strings(ctx: LoadContext, node: yaml.Node, key: str) -> tuple[str, ...]:
    """A list of strings; a single string counts as a list of one."""
    if isinstance(node, yaml.ScalarNode):
        value = string(ctx, node, key)
        return (value,) if value else ()
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, f"'{key}' must be a list of strings (got a mapping)")
    return tuple(string(ctx, item, f"{key}[{i}]") for i, item in enumerate(node.value))


def choices(*names: str) -> Callable:
    def check(ctx: LoadContext, node: yaml.Node, key: str) -> tuple[str, ...]:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        return tuple(choice(*names)(ctx, item, key) for item in items)
    return check


def duration(ctx: LoadContext, node: yaml.Node, key: str) -> float:
    """Falco's durations: ``1h``, ``15m``, ``30s``, ``500ms`` (a bare number is ms) → seconds."""
    value = ctx.scalar(node, key)
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise ctx.fail(node, f"'{key}' must be a duration like 30s, 15m, 1h (got {value!r})")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < 0.1:
        raise ctx.fail(node, f"'{key}' must be at least 100ms (got {value!r})")
    return seconds


def program(ctx: LoadContext, node: yaml.Node, key: str) -> str | tuple[str, ...]:
    """A program: a string (split into words, no shell) or an argv list."""
    if isinstance(node, yaml.SequenceNode):
        return strings(ctx, node, key)
    return string(ctx, node, key)
