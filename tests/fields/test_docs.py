"""docs/fields.md is generated from the catalogue and up to date; `falcolib fields` lists it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class TestFieldsDoc:
    """The generated documentation matches the catalogue."""

    def test_docs_fields_md_is_current(self):
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_fields_doc.py"), "--check"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    def test_cli_json_lists_every_class(self):
        r = subprocess.run([sys.executable, "-m", "falcolib", "fields", "--json"],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        recs = json.loads(r.stdout)
        names = {x["name"] for x in recs}
        assert {"proc.aname", "fd.name", "user.name", "container.id", "k8s.pod.name",
                "fs.path.name", "thread.cap_effective", "group.gid"} <= names
        aname = next(x for x in recs if x["name"] == "proc.aname")
        assert aname["takes_argument"] and not aname["argument_required"]
