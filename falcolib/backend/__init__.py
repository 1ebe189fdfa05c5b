"""The backend interface: a context manager yielding RawEvents, and its registry."""
from falcolib.backend.model import (
    Backend,
    BackendStats,
    RawEvent,
    StateSnapshot,
)
from falcolib.backend.memory import MemoryBackend
from falcolib.backend.registry import available_backends, open_backend, load_backend_class

__all__ = [
    "Backend",
    "BackendStats",
    "MemoryBackend",
    "RawEvent",
    "StateSnapshot",
    "available_backends",
    "load_backend_class",
    "open_backend",
]
