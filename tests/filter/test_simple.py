"""The pyparsing-free reading of simple conditions gives exactly the grammar's AST."""
from __future__ import annotations

import subprocess
import sys

import pyparsing as pp
import pytest
from hypothesis import given, settings, strategies as st

from falcolib.filter import ast, grammar
from falcolib.filter.simple import parse_simple

ORIGIN = ("<test>", 3, 5)


def detail(node) -> list:
    """Every node with what ``==`` ignores: positions and literal quoting."""
    return [(n, getattr(n, "position", None), getattr(n, "quoted", None)) for n in ast.walk(node)]


def grammar_parse(text: str):
    try:
        return grammar.parse_condition(text, ORIGIN)
    except pp.ParseBaseException:
        return None


def assert_same(text: str) -> bool:
    """parse_simple(text) is None or the grammar's AST; True when it read the text."""
    fast = parse_simple(text, ORIGIN)
    if fast is None:
        return False
    slow = grammar_parse(text)
    assert slow is not None, f"grammar refuses {text!r}, simple read {fast!r}"
    assert detail(fast) == detail(slow), text
    return True


# pieces chosen around the subset's edges: keywords glued to words, '$', unicode
# blanks, operators that are prefixes of others, numbers cut short, list/unary words
FIELDS = ["evt.type", "proc.name", "fd.num", "a.b.c", "x1.y_2", "not.x", "and.y", "evt",
          "a.1b", "a..b", "a.b.", "tolower.x", "val.x", "A.B", "exists.x", "proc.aname[2]",
          "a.b[", "a.b[x", "a.b[]", "a.b[ x]", "a.b['k']", 'a.b["k\\"x"]', "a.b[x]y",
          "tolower(a.b)", "b64( len(a.b[1]) )", "tolower(a.b", "len()", "basename (a.b)",
          "toupper(x)", "val(a.b)"]
OPS = ["=", "==", "!=", "<", "<=", ">", ">=", "=<", "<==", "=!", "!==", "===", "contains",
       "icontains", "startswith", "glob", "iglob", "regex", "endswith", "bcontains",
       "bstartswith", "exists", "existsx", "in", "intersects", "pmatch", "containsx", "globx"]
VALUES = ["openat", "3", "-3", "+4", "0x1F", "0x", "1.5e+3", "1e", "1.", "and", "or", "not",
          "/etc", "a,b", "x=y", "<", "$x", "a$", "val", "exists", "3and", "é", "a\\b",
          "'q'", '"a b"', "'it\\'s'", '"\\x41\\n"', "'\\q'", "'open", '""', "'a'b",
          "val(a.b)", "val( a.b[1] )", "val(tolower(a.b))", "tolower(a.b)", "val(x)",
          "len(a.b)", "some_list", "andlist", "l1.x"]
BLANKS = ["", " ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\xa0", "\u2003"]
GLUE = ["and", "or", "AND", "and$", "$and", "andx", "or_", "not", ",", "=", "m1", "not m2",
        "(m3)", "'"]

LISTS = ["(a, b)", "(open,openat)", "()", "( )", "(a,)", "(,a)", "(a b)", "(1, -2, /x)",
         "(a,\tb\n)", "(and, or)", "(a", "(val)", "((a))", "(a=b)", "('a', \"b c\")",
         "('a'b)", "(x, 'y\\'')", "(some_list, /bin)", "('\\z')"]
piece = st.one_of(*(st.sampled_from(xs) for xs in (FIELDS, OPS, VALUES, BLANKS, GLUE, LISTS)),
                  st.sampled_from(["(", ")", "not", "not ", "(not", "in", "intersects"]))
check = st.tuples(st.sampled_from(BLANKS), st.sampled_from(FIELDS), st.sampled_from(BLANKS),
                  st.sampled_from(OPS), st.sampled_from(BLANKS), st.sampled_from(VALUES + LISTS))


def _condition(draw_check):
    """Conditions from checks with not, parentheses, and, or (blanks varied)."""
    return st.recursive(
        draw_check.map("".join),
        lambda inner: st.one_of(
            st.tuples(st.sampled_from(["not ", "not", "not\t", "not("]), inner).map("".join),
            st.tuples(st.sampled_from(["(", "( "]), inner, st.sampled_from([")", " )", ""]))
            .map("".join),
            st.tuples(inner, st.sampled_from([" and ", " or ", ")and(", "\nor\n", " and", " AND "]),
                      inner).map("".join)),
        max_leaves=6)


class TestSameAsGrammar:
    """Whatever parse_simple reads, it reads as the grammar does (positions included)."""

    @settings(max_examples=1500, deadline=None)
    @given(st.lists(piece, min_size=1, max_size=12))
    def test_random_pieces(self, pieces):
        assert_same("".join(pieces))

    @settings(max_examples=1500, deadline=None)
    @given(st.lists(st.tuples(check, st.sampled_from(BLANKS), st.sampled_from(GLUE)),
                    min_size=1, max_size=4), st.sampled_from(BLANKS))
    def test_check_chains(self, chain, tail):
        text = "".join("".join(c) + b + g for c, b, g in chain[:-1])
        text += "".join(chain[-1][0]) + tail
        assert_same(text)

    @settings(max_examples=1500, deadline=None)
    @given(_condition(check))
    def test_nested_conditions(self, text):
        assert_same(text)

    def test_rule_file_conditions(self, rule_conditions):
        for _, _, condition in rule_conditions:
            assert_same(condition)

    def test_rule_file_checks(self, rule_conditions):
        """Each field check of the rule files, alone and chained, printed back."""
        read = 0
        for _, _, condition in rule_conditions:
            checks = [n.to_source() for n in ast.walk(grammar_parse(condition))
                      if isinstance(n, (ast.Compare, ast.Unary))]
            for text in checks:
                read += assert_same(text)
                read += assert_same(text.replace(" ", ""))
            read += assert_same(" and ".join(checks))
            read += assert_same("\tor ".join(checks))
            read += assert_same("not (" + " or not ".join(checks) + ")")
        assert read > 500

    @pytest.mark.parametrize("text", [
        "evt.type=openat",
        " evt.type = openat\n",
        "evt.type=openat and proc.name=cat",
        "evt.type=openat and proc.name=cat or fd.num >= 3 and evt.dir = <",
        "fd.name startswith /etc or fd.name contains passwd",
        "proc.name exists and fd.num>=-1",
        "evt.type==execve\nand\tproc.name!=bash",
    ])
    def test_common_filters_are_read(self, text):
        assert assert_same(text)

    @pytest.mark.parametrize("text", [
        "evt.type in (open, openat) and evt.dir=< and fd.name startswith /etc",
        "evt.type in (open, openat, read, write) and proc.name in (prog0, prog1, sshd)",
        "not (proc.name=bash or proc.name in (sh, zsh)) and not fd.num<0",
        "(evt.type=openat)", "not evt.type=openat", "fd.name pmatch (/etc, /usr/lib)",
        "fd.net intersects ()", "(" * 20 + "a.b=c" + ")" * 20,
    ])
    def test_nested_filters_are_read(self, text):
        assert assert_same(text)

    @pytest.mark.parametrize("text", [
        "proc.name='bash'", 'proc.name="ba sh" and fd.name contains "a\\tb"',
        "proc.aname[2]=sshd", 'proc.env["HOME"]=/root',
        "tolower(proc.name)=bash", "toupper( b64(proc.name) ) = X", "len(proc.args)>3",
        "some_macro", "evt.type=openat and some_macro", "not some_macro or (m1 and m2)",
        "proc.name in some_list", "proc.name in (a, 'b c', \"d\", e_list)",
        "proc.name = val(proc.pname)", "proc.name = val( proc.aname[2] )",
        "fd.num > val(fd.num)", "proc.name in tolower(proc.pname)",
        "proc.name != 'it\\'s'", "proc.name=\"\"",
    ])
    def test_whole_language_is_read(self, text):
        assert assert_same(text)

    @pytest.mark.parametrize("text", [
        "evt.type=openat and", "fd.num > abc", "evt.type=openat andx proc.name=cat",
        "(evt.type=openat", "evt.type=openat)", "proc.aname [2]=x", "proc.aname[ 2]=x", "proc.aname[2=x",
        "not", "evt.type in (open", "evt.type in (a,,b)", "fd.num > '3'",
        "proc.name='bad \\q escape'", "proc.name='open", "tolower (proc.name)=x",
        "tolower(macro)=x", "val(proc.name)=x", "proc.name=val(tolower(x.y))",
        "not$ a.b=c", "m1 m2", "proc.name in (a b)", "proc.name in and",
        "(" * 21 + "a.b=c" + ")" * 21, "not " * 21 + "a.b=c",
    ])
    def test_others_left_to_the_grammar(self, text):
        assert parse_simple(text, ORIGIN) is None


class TestStartup:
    """A command-line filter in the simple subset does not load pyparsing."""

    def test_events_with_simple_filter_skips_pyparsing(self, shared_dir):
        code = ("import sys\n"
                "from falcolib.cli import main\n"
                f"rc = main(['events', {str(shared_dir / 'captures' / 'cat_write.scap')!r}, "
                "'evt.type=open', '-p', '%evt.num'])\n"
                "assert rc == 0, rc\n"
                "print('pyparsing' in sys.modules)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
        assert out[-1] == "False" and out[:3] == ["140", "141", "150"]
