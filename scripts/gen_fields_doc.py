#!/usr/bin/env python3
"""Write docs/fields.md from the field catalogue (run after adding or changing a field).

    python3 scripts/gen_fields_doc.py          # rewrite docs/fields.md
    python3 scripts/gen_fields_doc.py --check  # exit 1 if docs/fields.md is stale
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from falcolib.cli.fields import field_record  # noqa: E402
from falcolib.fields.catalogue import CLASSES, all_fields  # noqa: E402

TARGET = ROOT / "docs" / "fields.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    records = [field_record(f) for f in all_fields()]
    lines = ["# Fields", "",
             "Generated from the field catalogue by `scripts/gen_fields_doc.py`; do not edit.",
             "Every field works in filter conditions and in `-p`/rule output formats unless",
             "marked *filter only*. `<NA>` is printed when a field has no value for an event.", ""]
    for cls in sorted({r["class"] for r in records}):
        desc = CLASSES[cls].desc if cls in CLASSES else ""
        lines += [f"## {cls}", "", desc, "", "| Field | Type | Argument | Description |",
                  "|---|---|---|---|"]
        for r in sorted((r for r in records if r["class"] == cls), key=lambda r: r["name"]):
            note = " *(filter only)*" if r["filter_only"] else ""
            lines.append(f"| `{r['name']}` | {r['type']} | {_cell(r['argument_form']) or '-'} | "
                         f"{_cell(r['description'])}{note} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            sys.stderr.write(f"{TARGET} is out of date: run scripts/gen_fields_doc.py\n")
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
