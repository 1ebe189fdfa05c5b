"""falcolib: Falco's behavioural syscall monitor as a Python library.

Importing falcolib touches no kernel, no bcc and no entry points.
"""
from falcolib.errors import (
    BackendUnavailable,
    CaptureFormatError,
    FalcolibError,
    FilterCompileError,
    FilterSyntaxError,
    Position,
    RuleLoadError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailable",
    "CaptureFormatError",
    "FalcolibError",
    "FilterCompileError",
    "FilterSyntaxError",
    "Position",
    "RuleLoadError",
    "__version__",
]
