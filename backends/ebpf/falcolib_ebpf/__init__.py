"""falcolib's live backend: syscalls traced with eBPF (bcc), in Falco's driver encoding.

Importing this package touches neither bcc nor the kernel; ``EbpfBackend``
loads the probe in ``__enter__``.
"""
from falcolib_ebpf.backend import EbpfBackend

__all__ = ["EbpfBackend"]
