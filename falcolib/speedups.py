"""Access to the optional C accelerator, ``falcolib._speedups`` (falcolib/_speedups.c).

It is built by ``pip install`` where a C compiler and the Python headers exist;
without it, or with ``FALCOLIB_PURE=1`` in the environment, every loop runs in
Python with the same results (the tests compare the two).
"""
from __future__ import annotations

import os

_MOD: object = False


def speedups():
    """The ``falcolib._speedups`` module, or None (not built, or FALCOLIB_PURE set)."""
    global _MOD
    if _MOD is False:
        _MOD = None
        if not os.environ.get("FALCOLIB_PURE"):
            try:
                from falcolib import _speedups
            except ImportError:
                pass
            else:
                _MOD = _speedups
    return _MOD
