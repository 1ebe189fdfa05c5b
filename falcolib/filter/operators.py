"""The comparison operators and field transformers, each spelled once.

``Operator`` values are the spellings the grammar accepts and
``to_source()`` prints; ``==`` is the one alias (of ``=``). The families
say what may follow an operator (libsinsp's parser has the same split):
nothing (``exists``), a number (``<`` ...), a string (``=`` ...) or a list
(``in`` ...).
"""
from __future__ import annotations

import enum


class Operator(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "contains"
    ICONTAINS = "icontains"
    BCONTAINS = "bcontains"
    STARTSWITH = "startswith"
    BSTARTSWITH = "bstartswith"
    ENDSWITH = "endswith"
    GLOB = "glob"
    IGLOB = "iglob"
    REGEX = "regex"
    IN = "in"
    INTERSECTS = "intersects"
    PMATCH = "pmatch"
    EXISTS = "exists"

    @classmethod
    def from_spelling(cls, text: str) -> "Operator":
        return cls.EQ if text == EQ_ALIAS else cls(text)

    @property
    def is_unary(self) -> bool:
        return self is Operator.EXISTS

    @property
    def is_numeric(self) -> bool:
        return self in NUMERIC_OPS

    @property
    def is_list(self) -> bool:
        return self in LIST_OPS

    @property
    def is_word(self) -> bool:
        return self.value.isalpha()


EQ_ALIAS = "=="

NUMERIC_OPS = frozenset({Operator.LT, Operator.LE, Operator.GT, Operator.GE})
LIST_OPS = frozenset({Operator.IN, Operator.INTERSECTS, Operator.PMATCH})
STRING_OPS = frozenset(op for op in Operator
                       if op not in NUMERIC_OPS and op not in LIST_OPS and not op.is_unary)


def symbol_spellings(ops) -> list[str]:
    """The non-word spellings of ``ops`` (plus ``==`` when ``=`` is there)."""
    out = [op.value for op in ops if not op.is_word]
    if Operator.EQ in ops:
        out.append(EQ_ALIAS)
    return out


class Transformer(enum.Enum):
    """Field transformers: ``tolower(proc.name)``; applied before comparing."""

    TOLOWER = "tolower"
    TOUPPER = "toupper"
    B64 = "b64"
    BASENAME = "basename"
    LEN = "len"


VAL = "val"  # val(field): a field's value as the right-hand side
