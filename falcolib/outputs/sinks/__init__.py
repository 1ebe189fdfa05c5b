"""Alert sinks; each runs in its own thread behind a bounded queue (see base.py).

The sink classes are imported on first use (PEP 562): a run that prints to stdout never
loads the HTTP sink's ssl and http.client (~15 ms of every start-up).
"""
from importlib import import_module

_WHERE = {
    "BaseSink": "base", "Sink": "base", "SinkRunner": "base", "SinkStats": "base",
    "CallableSink": "callable", "FileSink": "file", "HttpSink": "http",
    "ProgramSink": "program", "StdoutSink": "stdout", "SyslogSink": "syslog",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
