"""The ``falcolib`` command: one module per subcommand (see docs/contract.md).

Exit codes: 0 success, 1 user error, 2 usage error, 3 missing privilege or
kernel support for a live backend. Every FalcolibError becomes one line on
stderr; no traceback reaches the user.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import signal
import sys

from falcolib.errors import BackendUnavailable, FalcolibError, UnknownBackend

# subcommand -> module under falcolib.cli that defines add_parser(sub) and run(args)
SUBCOMMANDS = {
    "run": "run",
    "events": "events",
    "rules": "rules",
    "capture": "capture",
    "fields": "fields",
}

# exception class -> exit code (first match wins)
EXIT_CODES = (
    (BackendUnavailable, 3),
    (UnknownBackend, 1),
    (FalcolibError, 1),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors exit 2 with one line
        self.print_usage(sys.stderr)
        sys.stderr.write(f"falcolib: error: {message}\n")
        raise SystemExit(2)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``falcolib`` parser. With ``command`` (a subcommand name), only that subcommand is
    added and the other subcommands' modules are not imported (start-up time); usage lines
    still name every subcommand, so what the parser prints and returns does not change for
    a command line whose first word is ``command``."""
    parser = _Parser(prog="falcolib", description="Falco-compatible syscall security monitor")
    parser.add_argument("--version", action="version", version="falcolib 0.1.0")
    names = SUBCOMMANDS if command is None else {command: SUBCOMMANDS[command]}
    metavar = None
    if command is not None:
        metavar = "{" + ",".join(n for n, m in SUBCOMMANDS.items()
                                 if n == command or _module_exists(m)) + "}"
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                metavar=metavar)
    for name, modname in names.items():
        try:
            mod = importlib.import_module(f"falcolib.cli.{modname}")
        except ModuleNotFoundError as exc:
            if exc.name == f"falcolib.cli.{modname}":
                if command is not None:
                    return build_parser()
                continue
            raise
        mod.add_parser(sub)
    return parser


def _module_exists(modname: str) -> bool:
    return importlib.util.find_spec(f"falcolib.cli.{modname}") is not None


def console_main() -> int:
    """The ``falcolib`` program: ``main()`` with a program's signal dispositions."""
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `falcolib events ... | head` ends quietly
    except (AttributeError, ValueError):
        pass
    return main()


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; safe to call in-process (changes no signal handling
    beyond what a live run installs and restores)."""
    for stream in (sys.stdout, sys.stderr):
        try:  # undecodable bytes from paths/cmdlines print escaped, never crash the run
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words[0] if words and words[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except FalcolibError as exc:
        for cls, code in EXIT_CODES:
            if isinstance(exc, cls):
                sys.stderr.write(f"falcolib: {exc}\n")
                return code
        raise
    except BrokenPipeError:
        return 0
