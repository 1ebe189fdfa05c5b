"""The parser built for one subcommand behaves as the whole parser on its command lines."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from falcolib.cli import SUBCOMMANDS, build_parser


def outcome(parser, argv: list[str]):
    """(exit code or None, stdout, stderr, parsed namespace) of parsing ``argv``."""
    out, err = io.StringIO(), io.StringIO()
    code, ns = None, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            ns = vars(parser.parse_args(argv))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue(), ns


ARGVS = [
    ["events"], ["events", "-h"], ["events", "f.scap"], ["events", "f.scap", "evt.type=open"],
    ["events", "f.scap", "flt", "extra"], ["events", "f.scap", "--bogus"],
    ["events", "f.scap", "-p", "%evt.num", "--limit", "x"], ["events", "--version"],
    ["events", "f.scap", "--json", "--limit", "3", "--escape", "always"],
    ["rules"], ["rules", "-h"], ["rules", "validate"], ["rules", "validate", "r.yaml", "extra"],
    ["run", "--help"], ["run", "--no-such-flag"], ["run", "--rules", "r.yaml", "x"],
    ["capture", "-h"], ["capture"], ["fields"], ["fields", "--help"], ["fields", "--bogus"],
]


class TestOneSubcommand:
    """build_parser(name) prints, exits and parses as build_parser() for that name."""

    @pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
    def test_same_outcome(self, argv):
        assert outcome(build_parser(argv[0]), argv) == outcome(build_parser(), argv)

    def test_every_subcommand_covered(self):
        assert {a[0] for a in ARGVS} == set(SUBCOMMANDS)

    def test_other_subcommands_not_imported(self):
        code = ("import sys\n"
                "from falcolib.cli import main\n"
                "try:\n    main(['events', '-h'])\nexcept SystemExit:\n    pass\n"
                "print(sorted(m for m in sys.modules if m.startswith('falcolib.cli.')))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.splitlines()
        assert out[-1] == "['falcolib.cli.events']"
