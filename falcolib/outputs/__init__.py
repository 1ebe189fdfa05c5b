"""outputs stage of falcolib: Alert, its text/JSON renderings, sinks and the dispatcher.

The names below are imported on first use, so that ``falcolib.outputs.format`` (the
``%field`` formatter, on every CLI start) does not pull in the sinks (ssl, sockets).
"""
from importlib import import_module

_WHERE = {
    "Alert": "alert", "AlertFormat": "alert",
    "Dispatcher": "dispatcher", "OutputStats": "dispatcher", "build_dispatcher": "dispatcher",
    "escape_text": "escape",
    "Sink": "sinks.base", "SinkRunner": "sinks.base", "SinkStats": "sinks.base",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'falcolib.outputs' has no attribute {name!r}")
    return getattr(import_module(f"falcolib.outputs.{module}"), name)
