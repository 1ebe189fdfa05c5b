"""Fixtures shared by every test area: where the shared data lives, the captures, sysdig."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
CAPTURES = sorted((SHARED / "captures").glob("*.scap"))

# test modules import helpers as ``tests.<area>.<module>``: make that work under a
# bare ``pytest`` too, not only ``python -m pytest`` (which puts the cwd first)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data directory (../shared from the repo root)."""
    if not SHARED.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def captures(shared_dir) -> list[Path]:
    """Every shared capture (.scap, most of them gzipped)."""
    return CAPTURES


@pytest.fixture(scope="session")
def sysdig() -> str:
    """Path of the sysdig 0.29 binary used as the oracle."""
    path = shutil.which("sysdig")
    if path is None:
        pytest.skip("sysdig is not installed (apt-get install sysdig)")
    return path
