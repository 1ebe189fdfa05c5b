"""The filter grammar: what parses to which AST, and where errors point."""
from __future__ import annotations

import pytest

from falcolib.errors import FilterSyntaxError
from falcolib.filter import ast, parse
from falcolib.filter.operators import Operator, Transformer

F = ast.FieldRef


def cmp(field, op, value):
    if isinstance(field, str):
        field = F(field)
    if isinstance(value, str):
        value = ast.Literal(value)
    return ast.Compare(field, Operator.from_spelling(op), value)


def error_of(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    return info.value


class TestOperators:
    """Every operator parses, in its family, with and without blanks around it."""

    @pytest.mark.parametrize("op", ["=", "==", "!=", "contains", "icontains", "bcontains",
                                    "startswith", "bstartswith", "endswith", "glob", "iglob",
                                    "regex"])
    def test_string_operators(self, op):
        assert parse(f"fd.name {op} abc") == cmp("fd.name", op, "abc")

    @pytest.mark.parametrize("op", ["<", "<=", ">", ">="])
    def test_numeric_operators_take_numbers(self, op):
        assert parse(f"fd.num {op} 3") == cmp("fd.num", op, "3")
        assert parse(f"fd.num{op}-3") == cmp("fd.num", op, "-3")
        assert parse(f"fd.num {op} 0x1F") == cmp("fd.num", op, "0x1F")
        assert parse(f"fd.num {op} 1.5e+3") == cmp("fd.num", op, "1.5e+3")

    @pytest.mark.parametrize("op", ["in", "intersects", "pmatch"])
    def test_list_operators(self, op):
        want = ast.Compare(F("fd.name"), Operator(op),
                           ast.ListValue([ast.Literal("/etc"), ast.Literal("a b")]))
        assert parse(f'fd.name {op} (/etc, "a b")') == want
        assert parse(f'fd.name {op}(/etc,"a b")') == want

    def test_exists_is_unary(self):
        assert parse("proc.name exists") == ast.Unary(F("proc.name"), Operator.EXISTS)
        assert parse("(proc.name exists)") == ast.Unary(F("proc.name"), Operator.EXISTS)

    def test_symbol_operators_need_no_blanks(self):
        assert parse("proc.name=bash") == cmp("proc.name", "=", "bash")
        assert parse("proc.name!=bash") == cmp("proc.name", "!=", "bash")
        assert parse("fd.num>=0") == cmp("fd.num", ">=", "0")

    def test_double_equal_is_equal(self):
        assert parse("proc.name == bash").op is Operator.EQ
        assert parse("proc.name == bash").to_source() == "proc.name = bash"

    def test_word_operator_is_a_whole_word(self):
        err = error_of("fd.name containsx y")
        assert err.position.column == 9

    def test_every_operator_spelling_is_reachable(self):
        seen = set()
        for op in Operator:
            text = "fd.name exists" if op.is_unary else (
                f"fd.num {op.value} 1" if op.is_numeric else
                f"fd.name {op.value} (a)" if op.is_list else f"fd.name {op.value} a")
            node = parse(text)
            seen.add(node.op)
        assert seen == set(Operator)


class TestValues:
    """Bare words, quoted strings with Falco's escapes, lists and list names."""

    def test_bare_strings_stop_at_blank_paren_comma_quote_equal(self):
        assert parse("fd.name startswith /etc/x-y.conf").value == ast.Literal("/etc/x-y.conf")
        assert parse("(fd.name = a)").value == ast.Literal("a")

    def test_bare_backslash_is_kept(self):
        # falco-sandbox_rules.yaml: (proc.args contains "\ " or proc.args endswith \)
        node = parse(r'(proc.args contains "\ " or proc.args endswith \)')
        assert node.items[0].value.text == "\\"
        assert node.items[1].value.text == "\\"

    @pytest.mark.parametrize("src,text", [
        (r'"a b"', "a b"), (r"'a b'", "a b"), (r'"it\'s"' .replace("\\'", "'"), "it's"),
        (r'"q\"q"', 'q"q'), (r"'q\'q'", "q'q"), (r'"\\"', "\\"), (r'"\/"', "/"),
        (r'"\t\n\r\b\f"', "\t\n\r\b\f"), (r'"\x41\x42"', "AB"), (r'"\xc3\xa9"', "é"),
        (r'"\xff"', "\udcff"), ('""', ""), ("''", ""), ('"(x, y)"', "(x, y)"),
    ])
    def test_quoted_strings_unescape(self, src, text):
        assert parse(f"proc.name = {src}").value.text == text

    @pytest.mark.parametrize("src,col", [(r'"a\q"', 15), (r"'a\"'", 15), (r'"a\'"', 15),
                                         (r'"\x4"', 14), (r'"\xzz"', 14)])
    def test_bad_escapes_are_errors_at_the_backslash(self, src, col):
        err = error_of(f"proc.name = {src}")
        assert err.position.column == col
        assert "escape" in err.message

    def test_unclosed_quote(self):
        err = error_of('proc.name = "abc')
        assert err.position.column == 13

    def test_list_items_bare_identifiers_are_list_refs(self):
        node = parse('proc.name in (shell_binaries, "quoted", /bin/sh, 3, a-b)')
        assert node.value.items == (ast.ListRef("shell_binaries"), ast.Literal("quoted"),
                                    ast.Literal("/bin/sh"), ast.Literal("3"), ast.Literal("a-b"))

    def test_list_name_without_parens(self):
        assert parse("proc.name in shell_binaries").value == ast.ListRef("shell_binaries")

    def test_empty_list(self):
        assert parse("proc.name in ()").value == ast.ListValue(())

    def test_multiline_list(self):
        node = parse("proc.name in (\n  a,\n  b\n)")
        assert [i.name for i in node.value.items] == ["a", "b"]

    def test_numbers_only_after_numeric_operators(self):
        err = error_of("fd.num > abc")
        assert err.position.column == 10
        assert "number" in err.message


class TestFields:
    """Field names, arguments and transformers."""

    @pytest.mark.parametrize("src,field", [
        ("proc.aname[2]", F("proc.aname", "2")),
        ("proc.env[HOME]", F("proc.env", "HOME")),
        ('proc.env["MY VAR"]', F("proc.env", "MY VAR")),
        ("evt.arg[0]", F("evt.arg", "0")),
        ("evt.arg.name", F("evt.arg.name")),
        ("k8s.pod.label[app.kubernetes.io/name]", F("k8s.pod.label", "app.kubernetes.io/name")),
    ])
    def test_field_forms(self, src, field):
        assert parse(f"{src} = x").field == field

    def test_argument_must_touch_the_name(self):
        err = error_of("proc.aname [2] = x")
        assert err.position.column == 12

    @pytest.mark.parametrize("tr", list(Transformer))
    def test_each_transformer(self, tr):
        node = parse(f"{tr.value}(fd.name) = x")
        assert node.field == F("fd.name", None, (tr,))

    def test_nested_transformers_apply_innermost_first(self):
        node = parse("toupper(basename( fd.name )) = X")
        assert node.field.transformers == (Transformer.BASENAME, Transformer.TOUPPER)
        assert node.field.to_source() == "toupper(basename(fd.name))"

    def test_transformer_with_argument(self):
        assert parse("tolower(proc.aname[1]) = x").field == F("proc.aname", "1",
                                                              (Transformer.TOLOWER,))

    def test_val_on_right_side(self):
        node = parse("proc.name = val(proc.pname)")
        assert node.value == ast.FieldValue(F("proc.pname"))

    def test_transformer_on_right_side(self):
        node = parse("proc.name = tolower(proc.pname)")
        assert node.value == ast.FieldValue(F("proc.pname", None, (Transformer.TOLOWER,)))
        assert node.to_source() == "proc.name = tolower(proc.pname)"

    def test_val_needs_a_field(self):
        err = error_of("proc.name = val(bash)")
        assert err.position.column == 17

    def test_unknown_transformer_is_not_a_field(self):
        err = error_of("upper(proc.name) = x")
        assert err.position.column == 6

    def test_field_needs_an_operator(self):
        err = error_of("proc.name")
        assert err.position.column == 10
        assert "operator" in err.message and "end of condition" in err.message


class TestBooleans:
    """and/or/not precedence, parentheses, macro references, keyword case."""

    def test_precedence(self):
        node = parse("not a and b or c")
        assert node == ast.Or([ast.And([ast.Not(ast.Identifier("a")), ast.Identifier("b")]),
                               ast.Identifier("c")])

    def test_chains_flatten(self):
        node = parse("a and b and c")
        assert node == ast.And([ast.Identifier(x) for x in "abc"])

    def test_parentheses_keep_structure(self):
        node = parse("(a and b) and c")
        assert node == ast.And([ast.And([ast.Identifier("a"), ast.Identifier("b")]),
                                ast.Identifier("c")])
        assert node.to_source() == "(a and b) and c"

    def test_not_forms(self):
        assert parse("not(a)") == ast.Not(ast.Identifier("a"))
        assert parse("not not a") == ast.Not(ast.Not(ast.Identifier("a")))
        assert parse("not (a or b)") == ast.Not(ast.Or([ast.Identifier("a"), ast.Identifier("b")]))

    def test_and_or_before_parenthesis(self):
        assert parse("a and(b)") == ast.And([ast.Identifier("a"), ast.Identifier("b")])
        assert parse("a or(b)") == ast.Or([ast.Identifier("a"), ast.Identifier("b")])

    def test_identifier_starting_with_keyword(self):
        assert parse("notify and order") == ast.And([ast.Identifier("notify"),
                                                     ast.Identifier("order")])

    def test_keywords_are_case_sensitive(self):
        # libsinsp matches 'and'/'or'/'not' exactly: 'AND' is a macro name, then junk
        err = error_of("a AND b")
        assert err.position.column == 3

    def test_tabs_are_kept(self):
        assert parse('proc.cmdline contains "a\tb"').value.text == "a\tb"
        err = error_of("\tproc.name = a b")
        assert err.position.column == 16 and "found 'b'" in err.message

    def test_whitespace_of_all_kinds(self):
        assert parse("\ta\n and\r\n b ") == ast.And([ast.Identifier("a"), ast.Identifier("b")])
        assert parse("a\band\bb") == ast.And([ast.Identifier("a"), ast.Identifier("b")])
        assert parse('x.y = "\b"').value.text == "\b"  # not inside quotes


class TestErrors:
    """Syntax errors: the column where parsing failed, what was expected and found."""

    @pytest.mark.parametrize("text,col,expected", [
        ("proc.name = ", 13, "string value"),
        ("a and", 6, "field check"),
        ("a or or b", 6, "field check"),
        ("(a = b", 4, "')'"),
        ("(proc.name = a", 15, "')'"),
        ("proc.name = bash xyz", 18, "'and', 'or'"),
        ("proc.name foo bar", 11, "operator"),
        ("proc.name in (a,", 17, "list item"),
        ("proc.name in (a b)", 17, "')'"),
        ("proc.name in", 13, "list"),
        ("evt.type=open and (proc.name in (a, b) or fd.name = )", 53, "string value"),
        (")", 1, "field check"),
        ("tolower(a) = b", 9, "field"),
    ])
    def test_error_columns(self, text, col, expected):
        err = error_of(text)
        assert err.position.column == col, err
        assert expected in err.message, err
        assert "found" in err.message

    def test_found_names_the_token(self):
        assert "found 'xyz'" in error_of("proc.name = bash xyz").message
        assert "found end of condition" in error_of("a and").message

    def test_position_is_offset_by_where_the_condition_starts(self):
        with pytest.raises(FilterSyntaxError) as info:
            parse("a and\n  b c", file="rules.yaml", line=10, column=14)
        pos = info.value.position
        assert (pos.file, pos.line, pos.column) == ("rules.yaml", 11, 5)
        with pytest.raises(FilterSyntaxError) as info:
            parse("a b", file="rules.yaml", line=10, column=14)
        assert (info.value.position.line, info.value.position.column) == (10, 16)
        assert str(info.value).startswith("rules.yaml:10:16: ")

    def test_position_without_file_is_line_and_column(self):
        err = error_of("proc.name = cat and and")
        assert str(err).startswith("1:21: ")
        from falcolib.errors import Position
        assert str(Position(line=2, column=5)) == "2:5" and str(Position(offset=7)) == "byte offset 7"
        assert str(Position("f.yaml", 2, 5)) == "f.yaml:2:5" and str(Position()) == ""

    def test_empty_condition(self):
        assert "empty" in error_of("   ").message

    def test_error_is_one_line_and_a_value_error(self):
        err = error_of("a and\n\n")
        assert isinstance(err, ValueError)
        assert "\n" not in str(err)

    def test_deep_nesting_is_an_error_not_a_crash(self):
        text = "(" * 3000 + "a" + ")" * 3000
        with pytest.raises(FilterSyntaxError):
            parse(text)


class TestPositions:
    """Nodes remember where fields and macros are (for compile errors)."""

    def test_field_and_macro_positions(self):
        node = parse("a and\n   proc.name = x", file="f.yaml", line=3, column=12)
        assert node.items[0].position.line == 3 and node.items[0].position.column == 12
        fpos = node.items[1].field.position
        assert (fpos.file, fpos.line, fpos.column) == ("f.yaml", 4, 4)

    def test_positions_do_not_affect_equality(self):
        assert parse("proc.name = x") == parse("   proc.name = x")
