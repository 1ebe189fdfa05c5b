"""falcolib's live backend: syscalls traced with eBPF (bcc), in Falco's driver encoding.

Importing this package touches neither bcc nor the kernel (nor anything
heavy): ``EbpfBackend`` is imported on first access and loads the probe
only in ``__enter__``.
"""

__all__ = ["EbpfBackend"]


def __getattr__(name):
    if name == "EbpfBackend":
        from falcolib_ebpf.backend import EbpfBackend
        return EbpfBackend
    raise AttributeError(f"module 'falcolib_ebpf' has no attribute {name!r}")
