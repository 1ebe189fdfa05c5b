"""``falcolib fields [--json]``: every filter/output field with its type, argument and description."""
from __future__ import annotations

import json
import sys

from falcolib.fields.catalogue import ArgKind, Field, all_fields

_ARG_FORMS = {
    ArgKind.NONE: "",
    ArgKind.INDEX: "[N]",
    ArgKind.OPT_INDEX: "[N] (optional)",
    ArgKind.KEY: "[KEY]",
    ArgKind.OPT_KEY: "[KEY] (optional)",
    ArgKind.NAME_SUFFIX: ".NAME",
}


def arg_form(f: Field) -> str:
    """How the field takes its argument, as users write it."""
    return _ARG_FORMS[f.arg]


def field_record(f: Field) -> dict:
    return {
        "name": f.name,
        "class": f.field_class,
        "type": f.type.value,
        "description": f.desc,
        "takes_argument": f.arg is not ArgKind.NONE,
        "argument_required": f.arg in (ArgKind.INDEX, ArgKind.KEY, ArgKind.NAME_SUFFIX),
        "argument_form": arg_form(f),
        "filter_only": f.filter_only,
        "is_list": f.is_list,
    }


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("fields", help="list every supported filter/output field",
                              description="List every field the filter language and -p formats accept.")
    p.add_argument("--json", action="store_true", help="one JSON array of field objects")
    p.set_defaults(func=run)


def run(args) -> int:
    records = [field_record(f) for f in all_fields()]
    out = sys.stdout
    if args.json:
        json.dump(records, out, indent=1)
        out.write("\n")
        return 0
    current = None
    for r in sorted(records, key=lambda r: (r["class"], r["name"])):
        if r["class"] != current:
            current = r["class"]
            out.write(f"\n{current}\n")
        name = r["name"] + (r["argument_form"].split(" ")[0] if r["takes_argument"] else "")
        extra = " (filter only)" if r["filter_only"] else ""
        out.write(f"  {name:<44} {r['type']:<9} {r['description']}{extra}\n")
    return 0
