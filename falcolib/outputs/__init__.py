"""outputs stage of falcolib: Alert, its text/JSON renderings, sinks and the dispatcher.

``falcolib.outputs.format`` (the ``%field`` formatter) is imported on its own.
"""
from falcolib.outputs.alert import Alert, AlertFormat
from falcolib.outputs.dispatcher import Dispatcher, OutputStats, build_dispatcher
from falcolib.outputs.escape import escape_text
from falcolib.outputs.sinks.base import Sink, SinkRunner, SinkStats

__all__ = [
    "Alert",
    "AlertFormat",
    "Dispatcher",
    "OutputStats",
    "Sink",
    "SinkRunner",
    "SinkStats",
    "build_dispatcher",
    "escape_text",
]
