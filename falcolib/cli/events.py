"""``falcolib events FILE [FILTER] [-p FORMAT] [--json] [--limit N]``: explore a capture like ``sysdig -r``.

The loop is the engine's replay path flattened into one function (the
hottest loop of the CLI): decode, apply to the state, hide what sysdig
hides, filter, render, and write in batches. When the filter and the format
use only fields the event answers alone (evt.num, evt.type, ...), no state
engine runs at all: the reader skips the events of other types by header.
"""
from __future__ import annotations

import json
import sys

# sysdig's default line (userspace/sysdig/sysdig.cpp DEFAULT_OUTPUT_STR)
DEFAULT_FORMAT = "*%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info"
BATCH = 4096


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
    p.add_argument("--escape", choices=("auto", "always", "never"), default="auto",
                   help="control characters from the capture (names, paths, command lines): "
                        "shown as \\n \\x1b (always), as they are, byte for byte like sysdig "
                        "(never), or escaped only when writing to a terminal (auto, the default)")
    p.set_defaults(func=run)


def compile_filter(text: str | None):
    """The compiled matcher for a command-line filter, or None."""
    if not text or not text.strip():
        return None
    from falcolib.filter import compile as compile_condition, parse
    return compile_condition(parse(text, file="<filter>"))


def run(args) -> int:
    from falcolib.engine import needs_state, wanted_types
    from falcolib.outputs.format import Formatter

    matcher = compile_filter(args.filter)
    fmt = Formatter(args.format or DEFAULT_FORMAT)
    used = set(fmt.field_names)
    if matcher is not None:
        used |= matcher.fields
    from falcolib.scap.reader import ScapReader
    from falcolib.speedups import speedups
    stateful = needs_state(used)
    types = matcher.evttypes if matcher is not None else None
    checks, lean, scan = (), None, frozenset()
    if matcher is not None:
        from falcolib.filter.prefilter import scan_types
    c_state = (stateful and speedups() is not None and not args.json and args.limit is None
               and (matcher is None or types is not None or scan_types(matcher) is not None))
    if c_state and matcher is not None:
        # the C loop gives every event the state's bookkeeping, so only the types the
        # filter can be true on (evt.type checks, and fd.* fields that only events with
        # an fd answer) and those whose parser must run go to Python. In sysdig's filter
        # order, a parser that runs only after the filter passed never runs for a type
        # the filter cannot be true on.
        # Of the parsers, only those the used fields depend on run (lean state).
        scan = scan_types(matcher)
        types = wanted_types(scan, fields=used, sysdig_order=True)
        if types is not None:
            # the filter's proc.name/proc.exe checks are decided in C for the events
            # delivered for the filter's sake only (no parser of theirs must run)
            from falcolib.filter.prefilter import c_checks
            from falcolib.state import wanted_types as state_types
            from falcolib.state.groups import canonical
            checks = c_checks(matcher)
            lean = state_types(False, canonical(used), sysdig_order=True)
    elif stateful and types is not None:
        # pure Python: the filter's types and those of the parsers the used fields need
        # (lean state) are read, others skipped
        types = wanted_types(types, fields=used, sysdig_order=True)
    with ScapReader(args.file, types=None if c_state else types) as reader:
        state = None
        if stateful:
            from falcolib.state import State
            # as sysdig -r FILTER: events that do not change the state are parsed only
            # when they pass the filter (State.settle/discard)
            state = State(reader.snapshot(), sysdig_filter_order=matcher is not None)
        printer = None
        if (c_state or matcher is None) and not args.json and args.limit is None:
            from falcolib.cli.events_fast import make_printer
            deliver = types
            if stateful and matcher is None:
                # every event is shown: Python gets those whose parsers the fields need
                from falcolib.state import needed_types
                from falcolib.state.groups import canonical
                deliver = needed_types(canonical(used))
            printer = make_printer(reader, fmt, state, _escape_mode(args) is not None,
                                   deliver, show=matcher is None, checks=checks,
                                   lean=lean, scan=scan)
        if printer is None and c_state:
            reader.set_types(types)
        can_match = None
        if matcher is not None:
            can_match = scan if c_state else matcher.evttypes
        _print(reader.events(), state, matcher, fmt, args, printer, can_match)
    return 0


# Control characters in captured strings (a process named "\x1b]0;..." or a path with a
# newline) would drive a terminal or forge lines: on a terminal they are shown as \n \r \t
# \xNN. Piped, the output stays byte for byte what sysdig prints (captures do hold some:
# container JSON ends with a newline), unless --escape always.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_ESCAPES.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})
CONTROL_ESCAPES = str.maketrans(_ESCAPES)


def _escape_mode(args):
    """The translation table for control characters, or None (see --escape)."""
    mode = getattr(args, "escape", "auto")
    if mode == "auto":
        mode = "always" if sys.stdout.isatty() else "never"
    return CONTROL_ESCAPES if mode == "always" else None


def _print(source, state, matcher, fmt, args, printer=None, can_match=None) -> None:
    """Print the views of ``source`` that sysdig shows and ``matcher`` accepts (with a
    C ``printer``, in between the lines it formats itself); ``matcher`` is asked only
    about the types of ``can_match`` (None: all)."""
    from falcolib.engine import shown_views

    limit = args.limit
    out = sys.stdout
    lines: list[str] = []
    append = lines.append
    printed = 0
    as_json = args.json
    values = fmt.values
    render = fmt.line_function()
    escape = _escape_mode(args)
    if printer is not None:
        _print_fast(shown_views(source, state=state, matcher=matcher, can_match=can_match),
                    render, escape, printer)
        return
    try:
        for view in shown_views(source, state=state, matcher=matcher, can_match=can_match):
            if as_json:
                line = json.dumps(values(view), default=str, ensure_ascii=False)
            else:
                line = render(view)
                if line is None:
                    continue
                if escape is not None and not line.isprintable():
                    line = line.translate(escape)
            append(line)
            printed += 1
            if len(lines) >= BATCH:
                lines.append("")
                out.write("\n".join(lines))
                lines.clear()
            if limit is not None and printed >= limit:
                break
    finally:
        # what was printed before an error (a truncated capture) still comes out first
        if lines:
            lines.append("")
            out.write("\n".join(lines))
        out.flush()


def _print_fast(views, render, escape, printer) -> None:
    """The lines of ``views`` (the events the C printer left to Python) go into the
    printer's buffer, encoded as stdout would; the buffer is written in large pieces."""
    out = sys.stdout
    out.flush()
    sink = out.buffer
    encoding, errors = out.encoding, out.errors
    write, take = printer.write, printer.take
    try:
        for view in views:
            line = render(view)
            if line is None:
                continue
            if escape is not None and not line.isprintable():
                line = line.translate(escape)
            write((line + "\n").encode(encoding, errors))
            if printer.pending >= 1 << 20:
                sink.write(take())
    finally:
        # what was printed before an error (a truncated capture) still comes out first
        sink.write(take())
        sink.flush()
