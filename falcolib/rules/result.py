"""LoadResult: every problem found while loading rules, with Falco's codes."""
from __future__ import annotations

import enum
import json
from typing import Iterable

import attrs

from falcolib.errors import Position


class Code(enum.Enum):
    """Falco's load_result error and warning codes (falco_load_result.h)."""

    # errors
    LOAD_ERR_FILE_READ = "LOAD_ERR_FILE_READ"
    LOAD_ERR_YAML_PARSE = "LOAD_ERR_YAML_PARSE"
    LOAD_ERR_YAML_VALIDATE = "LOAD_ERR_YAML_VALIDATE"
    LOAD_ERR_COMPILE_CONDITION = "LOAD_ERR_COMPILE_CONDITION"
    LOAD_ERR_COMPILE_OUTPUT = "LOAD_ERR_COMPILE_OUTPUT"
    LOAD_ERR_VALIDATE = "LOAD_ERR_VALIDATE"
    LOAD_ERR_EXTENSION = "LOAD_ERR_EXTENSION"
    # warnings
    LOAD_UNKNOWN_SOURCE = "LOAD_UNKNOWN_SOURCE"
    LOAD_UNSAFE_NA_CHECK = "LOAD_UNSAFE_NA_CHECK"
    LOAD_NO_EVTTYPE = "LOAD_NO_EVTTYPE"
    LOAD_UNKNOWN_FILTER = "LOAD_UNKNOWN_FILTER"
    LOAD_UNUSED_MACRO = "LOAD_UNUSED_MACRO"
    LOAD_UNUSED_LIST = "LOAD_UNUSED_LIST"
    LOAD_UNKNOWN_ITEM = "LOAD_UNKNOWN_ITEM"
    LOAD_DEPRECATED_ITEM = "LOAD_DEPRECATED_ITEM"
    LOAD_WARNING_EXTENSION = "LOAD_WARNING_EXTENSION"
    LOAD_APPEND_NO_VALUES = "LOAD_APPEND_NO_VALUES"
    LOAD_EXCEPTION_NAME_NOT_UNIQUE = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
    LOAD_INVALID_MACRO_NAME = "LOAD_INVALID_MACRO_NAME"
    LOAD_INVALID_LIST_NAME = "LOAD_INVALID_LIST_NAME"
    LOAD_COMPILE_CONDITION = "LOAD_COMPILE_CONDITION"
    LOAD_UNKNOWN_KEY = "LOAD_UNKNOWN_KEY"

    @property
    def is_error(self) -> bool:
        return self.value.startswith("LOAD_ERR_")


@attrs.frozen
class LoadIssue:
    """One problem: its code, the item it concerns, a message and where it is."""

    code: Code
    item_type: str
    item_name: str
    message: str
    position: Position = Position()

    @property
    def is_error(self) -> bool:
        return self.code.is_error

    def to_dict(self) -> dict:
        return {
            "code": self.code.value,
            "item_type": self.item_type,
            "item_name": self.item_name,
            "message": self.message,
            "position": {"name": self.position.file, "line": self.position.line,
                         "column": self.position.column},
        }

    def __str__(self) -> str:
        what = f"{self.item_type} {self.item_name!r}" if self.item_name else self.item_type
        where = f"{self.position}: " if str(self.position) else ""
        return f"{where}{self.code.value}: {what}: {self.message}".replace("\n", " ")


@attrs.define
class LoadResult:
    """Every issue found while loading, in the order found."""

    issues: list[LoadIssue] = attrs.field(factory=list)

    def add(self, code: Code, item_type: str, item_name: str, message: str,
            position: Position | None = None) -> None:
        self.issues.append(LoadIssue(code, item_type, item_name or "", message,
                                     position or Position()))

    def extend(self, issues: Iterable[LoadIssue]) -> None:
        self.issues.extend(issues)

    @property
    def errors(self) -> tuple[LoadIssue, ...]:
        return tuple(i for i in self.issues if i.is_error)

    @property
    def warnings(self) -> tuple[LoadIssue, ...]:
        return tuple(i for i in self.issues if not i.is_error)

    @property
    def successful(self) -> bool:
        return not any(i.is_error for i in self.issues)

    def codes(self) -> list[str]:
        return [i.code.value for i in self.issues]

    def to_dict(self) -> dict:
        return {"successful": self.successful,
                "errors": [i.to_dict() for i in self.errors],
                "warnings": [i.to_dict() for i in self.warnings]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())
