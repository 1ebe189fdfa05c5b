"""Import bcc's Python bindings from any Python, venvs included.

Debian ships them for the system Python only (python3-bpfcc puts them in
/usr/lib/python3/dist-packages). They are pure Python over libbcc.so, so a
private directory holding just a ``bcc`` symlink to them, put on sys.path,
makes them importable without exposing the rest of dist-packages.
"""
from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile

SYSTEM_BCC_DIRS = ("/usr/lib/python3/dist-packages/bcc", "/usr/local/lib/python3/dist-packages/bcc")
INSTALL_HINT = "install it with: apt-get install python3-bpfcc (or run scripts/setup-host)"


def import_bcc():
    """Return the ``bcc`` module; raise ImportError with what was tried."""
    try:
        return importlib.import_module("bcc")
    except ImportError:
        pass
    for target in SYSTEM_BCC_DIRS:
        if os.path.isfile(os.path.join(target, "__init__.py")):
            break
    else:
        raise ImportError(f"bcc Python bindings not found in {', '.join(SYSTEM_BCC_DIRS)}")
    private = tempfile.mkdtemp(prefix="falcolib-bcc-")
    atexit.register(shutil.rmtree, private, True)
    os.symlink(target, os.path.join(private, "bcc"))
    sys.path.append(private)
    importlib.invalidate_caches()
    return importlib.import_module("bcc")
