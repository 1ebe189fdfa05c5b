"""Backends are found through the ``falcolib.backends`` entry-point group.

Listing names imports nothing; a backend's module is imported only when it
is opened. Built-in names carry install hints for when they are missing.
"""
from __future__ import annotations

from importlib import import_module

from falcolib.errors import UnknownBackend

GROUP = "falcolib.backends"

# Fallbacks used when the plugin distributions are importable but their
# entry points are not installed (e.g. running from a source checkout).
_BUILTIN = {
    "scap": ("falcolib_scap:ScapBackend", "pip install ./backends/scap"),
    "ebpf": ("falcolib_ebpf:EbpfBackend", "pip install ./backends/ebpf"),
    "kmod": ("falcolib_kmod:KmodBackend", "pip install ./backends/kmod"),
}


def _entry_points() -> dict:
    from importlib import metadata   # imported on use: it costs ~12 ms at start-up
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def available_backends() -> list[str]:
    """Names of registered backends (plus the built-in names)."""
    return sorted(set(_entry_points()) | set(_BUILTIN))


def load_backend_class(name: str):
    # a built-in name is imported directly when its plugin is installed: scanning every
    # distribution's entry points costs 15-35 ms of each start-up
    missing = None
    if name in _BUILTIN:
        module, _, attr = _BUILTIN[name][0].partition(":")
        try:
            return getattr(import_module(module), attr)
        except ImportError as exc:
            missing = exc
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    if missing is not None:
        raise UnknownBackend(f"backend {name!r} is not installed ({missing})",
                             hint=_BUILTIN[name][1])
    raise UnknownBackend(
        f"no backend named {name!r}; available: {', '.join(available_backends())}"
    )


def open_backend(name: str, **options):
    """Instantiate the backend registered as ``name`` (not yet entered)."""
    return load_backend_class(name)(**options)
