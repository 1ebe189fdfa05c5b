"""falcolib backend plugin: the Falco kernel module's per-CPU ring buffers.

Importing this package touches no device; ``KmodBackend.__enter__`` does.
"""
from falcolib_kmod.backend import KmodBackend

__all__ = ["KmodBackend"]
