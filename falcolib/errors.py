"""The errors a user can cause, each a FalcolibError and the builtin they'd catch."""
from __future__ import annotations

import attrs


@attrs.frozen
class Position:
    """Where in a file something is: 1-based line and column; offset for binary files."""

    file: str = ""
    line: int = 0
    column: int = 0
    offset: int | None = None

    def __str__(self) -> str:
        if self.offset is not None:
            return f"{self.file}: byte offset {self.offset}" if self.file else f"byte offset {self.offset}"
        if self.line:
            where = f"{self.line}:{self.column}"
            return f"{self.file}:{where}" if self.file else where
        return self.file


class FalcolibError(Exception):
    """Base of every error falcolib raises on purpose.

    ``position`` says where the problem is; ``hint`` says how to fix it.
    ``str()`` is one line, ready for a CLI to print.
    """

    def __init__(self, message: str, *, position: Position | None = None, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.position = position
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.position is not None and str(self.position):
            text = f"{self.position}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        return text.replace("\n", " ")


class CaptureFormatError(FalcolibError, ValueError):
    """A capture file is truncated, corrupt or not a scap file."""


class FilterSyntaxError(FalcolibError, ValueError):
    """A filter condition does not parse."""


class FilterCompileError(FalcolibError, ValueError):
    """A filter parses but names an unknown field, bad argument or wrong literal."""


class FormatError(FalcolibError, ValueError):
    """An output format (``-p`` or a rule's ``output``) is invalid."""


class RuleLoadError(FalcolibError, ValueError):
    """Rules failed to load; ``result`` holds every issue found."""

    def __init__(self, result, message: str | None = None):
        self.result = result
        errors = getattr(result, "errors", ())
        if message is None:
            first = errors[0] if errors else None
            message = str(first) if first is not None else "rules failed to load"
            if len(errors) > 1:
                message += f" (and {len(errors) - 1} more errors)"
        super().__init__(message)


class ConfigError(FalcolibError, ValueError):
    """A configuration file or --set value is invalid."""


class BackendUnavailable(FalcolibError, RuntimeError):
    """A backend cannot run here: missing privilege, library, device or kernel support."""


class UnknownBackend(FalcolibError, LookupError):
    """No backend is registered under the requested name."""
