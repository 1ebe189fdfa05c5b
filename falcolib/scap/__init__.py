"""Reading and writing scap capture files (.scap, .scap.gz).

- ``reader``  ScapReader: streaming block reader (events, headers, snapshot)
- ``blocks``  state blocks -> StateSnapshot records (parse_state_blocks)
- ``encode``  StateSnapshot records -> state blocks
- ``writer``  ScapWriter / copy_capture: files sysdig reads
- ``source``  plain or gzip byte source with bounded memory
- ``format``  block types and fixed layouts
"""
from falcolib.scap.blocks import parse_state_blocks
from falcolib.scap.reader import ScapReader, open_capture
from falcolib.scap.writer import ScapWriter, copy_capture

__all__ = ["ScapReader", "ScapWriter", "copy_capture", "open_capture", "parse_state_blocks"]
