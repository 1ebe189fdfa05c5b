"""Alert sinks; each runs in its own thread behind a bounded queue (see base.py)."""
from falcolib.outputs.sinks.base import BaseSink, Sink, SinkRunner, SinkStats
from falcolib.outputs.sinks.callable import CallableSink
from falcolib.outputs.sinks.file import FileSink
from falcolib.outputs.sinks.http import HttpSink
from falcolib.outputs.sinks.program import ProgramSink
from falcolib.outputs.sinks.stdout import StdoutSink
from falcolib.outputs.sinks.syslog import SyslogSink

__all__ = [
    "BaseSink", "CallableSink", "FileSink", "HttpSink", "ProgramSink", "Sink", "SinkRunner",
    "SinkStats", "StdoutSink", "SyslogSink",
]
