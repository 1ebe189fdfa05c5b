"""Reading and writing scap capture files (.scap, .scap.gz)."""
from falcolib.scap.reader import ScapReader, open_capture

__all__ = ["ScapReader", "open_capture"]
