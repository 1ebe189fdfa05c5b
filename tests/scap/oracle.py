"""Running sysdig 0.29 on a capture, for the scap tests (results memoised per run)."""
from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

CAPTURES = sorted((Path(__file__).resolve().parents[2] / ".." / "shared" / "captures")
                  .resolve().glob("*.scap"))
FULL_FORMAT = "*%evt.num %evt.rawtime %thread.tid %evt.type %evt.dir %proc.name %evt.args"


@functools.lru_cache(maxsize=256)
def _run(sysdig: str, path: str, fmt: str | None, filt: str | None, mtime: float) -> str:
    cmd = [sysdig, "-r", path]
    if fmt is not None:
        cmd += ["-p", fmt]
    if filt:
        cmd.append(filt)
    proc = subprocess.run(cmd, capture_output=True, timeout=120,
                          env={**os.environ, "TZ": "UTC"})
    if proc.returncode != 0:
        raise AssertionError(f"sysdig failed on {path}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def sysdig_output(sysdig: str, path, fmt: str | None = None, filt: str | None = None) -> str:
    """What ``sysdig -r path [-p fmt] [filt]`` prints (stdout)."""
    p = os.fspath(path)
    return _run(sysdig, p, fmt, filt, os.stat(p).st_mtime_ns)
