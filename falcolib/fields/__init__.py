"""Field catalogue: ``lookup``/``resolve`` a field; the modules below declare them."""
from __future__ import annotations

import importlib

from falcolib.fields.catalogue import (
    ArgKind, Field, FieldClass, FieldType, all_fields, lookup, resolve,
)

# one module per field class (evt spread over three, loaded in this order; fd imports
# fd_socket itself); each declares its fields at import
FIELD_MODULES = (
    "evt", "evt_flags", "evt_time", "proc", "thread", "fd", "fspath", "user", "group",
    "container", "k8s", "syslog",
)
_loaded = False


def load_field_modules() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in FIELD_MODULES:
        try:
            importlib.import_module(f"falcolib.fields.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"falcolib.fields.{mod}":
                raise


__all__ = ["ArgKind", "Field", "FieldClass", "FieldType", "all_fields", "lookup", "resolve",
           "load_field_modules"]
