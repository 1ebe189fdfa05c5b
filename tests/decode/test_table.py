"""The event table: generated from the driver sources, complete, consistent."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from falcolib.decode import _data
from falcolib.decode.table import (
    EVENT_NPARAMS, EVENTS, PPM_EVENT_MAX, SYSDIG_EVENT_MAX, SYSDIG_EVENTS, category_name,
    types_named,
)

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path("/work/.mirror/falcosecurity+libs/repo")


class TestTable:
    """Every code of the current driver table is present with its parameters."""

    def test_size_is_ppm_event_max(self):
        assert PPM_EVENT_MAX == 454 and len(EVENTS) == 454 and len(EVENT_NPARAMS) == 454

    def test_open_exit_layout(self):
        e = EVENTS[3]
        assert (e.name, e.dir) == ("open", "<")
        assert [p.name for p in e.params][:4] == ["fd", "name", "flags", "mode"]
        assert e.params[2].info == "file_flags" and e.params[3].fmt == "PF_OCT"

    def test_directions_alternate(self):
        assert all(e.dir == (">" if e.code % 2 == 0 else "<") for e in EVENTS)
        assert all(e.enum.endswith("_E" if e.dir == ">" else "_X") for e in EVENTS)

    def test_fsrelpath_points_at_a_dirfd(self):
        rel = [(e, p) for e in EVENTS for p in e.params if p.type == "PT_FSRELPATH"]
        assert rel
        for e, p in rel:
            assert e.params[p.dirfd].type in ("PT_FD", "PT_FD32"), (e.name, p.name)

    def test_types_named_spans_versions(self):
        assert {2, 3} <= types_named("open")
        execve = types_named("execve")
        assert len(execve) >= 8 and all(EVENTS[c].name == "execve" for c in execve)
        assert types_named("no_such_event") == frozenset()

    def test_sysdig_overlay_names(self):
        assert SYSDIG_EVENT_MAX == 336
        assert SYSDIG_EVENTS[196].name == "sysdigevent" and EVENTS[196].name == "scapevent"
        assert SYSDIG_EVENTS[18].params[0].type == "PT_FLAGS32"
        assert EVENTS[18].params[0].type == "PT_ENUMFLAGS32"

    def test_categories(self):
        assert category_name(EVENTS[3].category) == "file"
        assert category_name(EVENTS[23].category) == "net"


@pytest.mark.skipif(not MIRROR.is_dir(), reason="libs mirror not available")
class TestGenerator:
    """scripts/gen_event_table.py regenerates exactly the committed data."""

    def test_regenerates_identically(self, tmp_path):
        out = tmp_path / "_data.py"
        subprocess.run([sys.executable, str(REPO / "scripts/gen_event_table.py"), "-o", str(out)],
                       check=True, capture_output=True)
        assert out.read_text() == Path(_data.__file__).read_text()
