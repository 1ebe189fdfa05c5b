"""decode stage: the driver event table as data, lazy Event, sysdig-exact text.

- ``table``   EVENTS / SYSDIG_EVENTS / EVENT_NPARAMS / types_named
- ``values``  bytes -> Python value, one decoder per PT_ type
- ``event``   Event: lazy parameter access
- ``flags``   flag/enum/errno/signal names
- ``render``  sysdig's parameter text (%evt.args, %evt.arg.X, %evt.rawarg.X)
- ``visibility`` which events sysdig numbers and which it shows
"""
from __future__ import annotations

from falcolib.decode.event import Event
from falcolib.decode.table import EVENT_NPARAMS, EVENTS, EventInfo, ParamInfo, types_named

__all__ = ["Event", "EVENTS", "EVENT_NPARAMS", "EventInfo", "ParamInfo", "types_named"]
