"""``falcolib events FILE [FILTER] [-p FORMAT] [--json] [--limit N]``: explore a capture like ``sysdig -r``."""
from __future__ import annotations

import json
import sys

# sysdig's default line (userspace/sysdig/sysdig.cpp DEFAULT_OUTPUT_STR)
DEFAULT_FORMAT = "*%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info"


def add_parser(sub) -> None:
    p = sub.add_parser("events", help="print a capture's events (filter and %%field format as sysdig -r)",
                       description="Print the events of a scap capture, optionally filtered, "
                                   "one line per event, like `sysdig -r FILE [FILTER] [-p FORMAT]`.")
    p.add_argument("file", help="capture file (.scap, optionally gzipped)")
    p.add_argument("filter", nargs="?", default=None, help="filter condition (no macros)")
    p.add_argument("-p", "--print", dest="format", default=None, metavar="FORMAT",
                   help="output format: %%field, %%field[arg]; a leading * prints lines whose "
                        "fields are all <NA>")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="stop after N printed events")
    p.set_defaults(func=run)


def compile_filter(text: str | None):
    """The compiled matcher for a command-line filter, or None."""
    if not text or not text.strip():
        return None
    from falcolib.filter import compile as compile_condition, parse
    return compile_condition(parse(text, file="<filter>"))


def run(args) -> int:
    from falcolib.engine import wanted_types
    from falcolib.outputs.format import Formatter
    from falcolib_scap import ScapBackend

    matcher = compile_filter(args.filter)
    fmt = Formatter(args.format or DEFAULT_FORMAT)
    types = wanted_types(matcher.evttypes) if matcher is not None else None
    limit = args.limit
    out = sys.stdout
    lines: list[str] = []
    printed = 0
    with ScapBackend(args.file, types=types) as backend:
        from falcolib.engine import iter_views
        render = fmt.render
        as_json = args.json
        for view in iter_views(backend, visible_only=True):
            if matcher is not None and not matcher(view):
                continue
            if as_json:
                line = json.dumps(fmt.values(view), default=str, ensure_ascii=False)
            else:
                line = render(view)
                if line is None:
                    continue
            lines.append(line)
            printed += 1
            if len(lines) >= 4096:
                out.write("\n".join(lines) + "\n")
                lines.clear()
            if limit is not None and printed >= limit:
                break
    if lines:
        out.write("\n".join(lines) + "\n")
    out.flush()
    return 0
