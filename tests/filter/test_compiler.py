"""The compiler: libsinsp's comparison semantics, over a test-local field catalogue.

Fields here are plain ``Field`` values (not registered anywhere) whose
extractors read a dict, so each test states exactly what the event holds.
"""
from __future__ import annotations

import pytest

from falcolib.errors import FilterCompileError
from falcolib.fields.catalogue import ArgKind, Field, FieldType as T
from falcolib.filter import compile as compile_filter, parse

MISSING = object()


def _getter(name):
    def extract(view, arg=None):
        if arg is not None:
            return view.get(f"{name}[{arg}]")
        return view.get(name)
    return extract


def _field(name, ftype, **kw):
    return Field(name, ftype, "test field", _getter(name), **kw)


FIELDS = {f.name: f for f in [
    _field("t.str", T.CHARBUF), _field("t.str2", T.CHARBUF), _field("t.path", T.FSPATH),
    _field("t.int", T.INT64), _field("t.int2", T.INT64), _field("t.u8", T.UINT8),
    _field("t.u64", T.UINT64), _field("t.bool", T.BOOL), _field("t.buf", T.BYTEBUF),
    _field("t.ip", T.IPADDR), _field("t.net", T.IPNET), _field("t.port", T.PORT),
    _field("t.double", T.DOUBLE), _field("t.list", T.CHARBUF, is_list=True),
    _field("t.anc", T.CHARBUF, arg=ArgKind.OPT_INDEX, list_without_arg=True),
    _field("t.env", T.CHARBUF, arg=ArgKind.KEY),
]}
FIELDS["t.arg"] = Field("t.arg", T.CHARBUF, "suffix field",
                        lambda view, name: view.get(f"t.arg.{name}"), arg=ArgKind.NAME_SUFFIX)


def lookup(name):
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith("t.arg."):
        return FIELDS["t.arg"]
    raise FilterCompileError(f"unknown field {name!r}")


def matches(condition: str, **values) -> bool:
    view = {k.replace("__", "."): v for k, v in values.items()}
    view = {(k if k.startswith("t.") else f"t.{k}"): v for k, v in view.items()}
    return compile_filter(parse(condition), lookup=lookup)(view)


def compile_error(condition: str) -> FilterCompileError:
    with pytest.raises(FilterCompileError) as info:
        compile_filter(parse(condition), lookup=lookup)
    return info.value


class TestMissingValues:
    """A field without a value fails every comparison, != included; exists is false."""

    @pytest.mark.parametrize("cond", [
        "t.str = a", "t.str != a", "t.str contains a", "t.str startswith a", "t.str in (a, b)",
        "t.str glob *", "t.str regex .*", "t.str pmatch (/)", "t.int < 3", "t.int != 3",
        "t.str exists", "t.net = 10.0.0.0/8", "t.net != 10.0.0.0/8", "t.str = val(t.str2)",
        "tolower(t.str) = a", "len(t.str) = 0", "t.anc = a", "t.list intersects (a)",
    ])
    def test_no_value_is_false(self, cond):
        assert matches(cond) is False

    def test_not_of_missing_is_true(self):
        assert matches("not t.str = a") is True
        assert matches("not t.str exists") is True

    def test_rhs_field_missing(self):
        assert matches("t.str = val(t.str2)", str="a") is False
        assert matches("t.str != val(t.str2)", str="a") is False


class TestStrings:
    """String operators as libsinsp's flt_compare_string."""

    @pytest.mark.parametrize("cond,value,want", [
        ("t.str = bash", "bash", True), ("t.str = bash", "bas", False),
        ("t.str != bash", "sh", True), ("t.str != bash", "bash", False),
        ("t.str contains as", "bash", True), ("t.str contains x", "bash", False),
        ("t.str icontains AS", "bAsh", True), ("t.str icontains Z", "bash", False),
        ("t.str icontains 'É'", "é", False), ("t.str icontains 'aÉ'", "AÉ", True),  # ASCII folding
        ("t.str startswith ba", "bash", True), ("t.str startswith sh", "bash", False),
        ("t.str endswith sh", "bash", True), ("t.str endswith ba", "bash", False),
        ("t.str < 5", "3", True), ("t.str > 5", "10", False),  # strcmp order
        ("t.str glob 'b*h'", "bash", True), ("t.str glob 'b?h'", "bash", False),
        ("t.str iglob 'B*H'", "bash", True), ("t.str glob 'B*H'", "bash", False),
        ("t.str regex 'ba.h'", "bash", True), ("t.str regex 'as'", "bash", False),
        ("t.str in (sh, bash)", "bash", True), ("t.str in (sh, zsh)", "bash", False),
        ("t.str intersects (sh, bash)", "bash", True),
        ("t.str = ''", "", True), ("t.str startswith ''", "x", True),
    ])
    def test_operators(self, cond, value, want):
        assert matches(cond, str=value) is want

    def test_regex_must_match_whole_value(self):
        assert matches("t.str regex 'a.'", str="bash") is False
        assert matches("t.str regex '.*as.*'", str="bash") is True

    def test_glob_star_crosses_slashes(self):
        assert matches("t.path glob '/home/*/.ssh/*'", path="/home/u/x/.ssh/id") is True

    def test_non_utf8_bytes_compare_by_escape(self):
        assert matches(r't.path = "/tmp/\xff"', path="/tmp/\udcff") is True
        assert matches(r't.path contains "\xc3\xa9"', path="/tmp/é") is True


class TestPmatch:
    """pmatch: a listed path is a component-wise prefix of the value."""

    @pytest.mark.parametrize("value,want", [
        ("/etc", True), ("/etc/passwd", True), ("/etc/a/b", True), ("/etcetera", False),
        ("/usr/lib/x", True), ("/usr/libexec/x", False), ("/usr", False), ("//etc//x", True),
    ])
    def test_prefixes(self, value, want):
        assert matches("t.path pmatch (/etc, /usr/lib)", path=value) is want

    def test_glob_component(self):
        assert matches("t.path pmatch (/home/*/.ssh)", path="/home/bob/.ssh/id") is True
        assert matches("t.path pmatch (/home/*/.ssh)", path="/home/bob/.sshx/id") is False


class TestNumbers:
    """Numeric literals are converted once; comparisons are numeric."""

    @pytest.mark.parametrize("cond,value,want", [
        ("t.int = 10", 10, True), ("t.int < 9", 10, False), ("t.int >= 10", 10, True),
        ("t.int > -1", 0, True), ("t.int = 0x10", 16, True), ("t.int != 3", 4, True),
        ("t.int in (1, 2, 10)", 10, True), ("t.int in (1, 2)", 10, False),
        ("t.u64 = -1", 2**64 - 1, True), ("t.u8 = -1", 255, True),
        ("t.double > 1.5", 2.0, True), ("t.port = http", 80, True), ("t.port in (ssh, 443)", 22, True),
        ("t.port = 65558", 22, True), ("t.port = ''", 0, True),   # stoi kept to 16 bits; empty is 0
    ])
    def test_operators(self, cond, value, want):
        field = cond.split()[0][2:]
        assert matches(cond, **{field: value}) is want

    @pytest.mark.parametrize("cond", ["t.int = abc", "t.int = 1.5", "t.int in (1, x)",
                                      "t.port = nosuchservice", "t.port = -1", "t.port = 0x16",
                                      "t.port = ' 22'", "t.port = 2147483648", "t.bool = yes",
                                      "t.ip = 1.2.3", "t.net = 10.0.0.1", "t.ip = 10.0.0.0/8",
                                      "t.buf bcontains xyz"])
    def test_bad_literal_names_the_field(self, cond):
        err = compile_error(cond)
        assert repr(cond.split()[0]) in err.message
        assert err.position is not None and err.position.column == 1


class TestBoolsAndBuffers:
    """Booleans take true/false; buffers compare bytes, b-operators take hex."""

    def test_bool(self):
        assert matches("t.bool = true", bool=True) is True
        assert matches("t.bool = false", bool=True) is False
        assert matches("t.bool != false", bool=True) is True

    def test_buffer(self):
        assert matches("t.buf contains ELF", buf=b"\x7fELF\x02") is True
        assert matches("t.buf bcontains 454c46", buf=b"\x7fELF\x02") is True
        assert matches("t.buf bstartswith 7f45", buf=b"\x7fELF\x02") is True
        assert matches("t.buf bstartswith 45", buf=b"\x7fELF\x02") is False
        assert matches("t.buf = ELF", buf=b"ELF") is True


class TestAddresses:
    """IP addresses compare canonically; networks contain addresses (v4 and v6)."""

    @pytest.mark.parametrize("cond,value,want", [
        ("t.ip = 10.0.0.1", "10.0.0.1", True), ("t.ip = 10.0.0.1", "10.0.0.2", False),
        ("t.ip = '::1'", "::1", True), ("t.ip = '0:0::1'", "::1", True),
        ("t.ip in (1.1.1.1, 10.0.0.1)", "10.0.0.1", True), ("t.ip != 10.0.0.1", "10.0.0.2", True),
        ("t.net = 10.0.0.0/8", "10.1.2.3", True), ("t.net = 10.0.0.0/8", "11.0.0.1", False),
        ("t.net != 10.0.0.0/8", "11.0.0.1", True), ("t.net = 10.0.0.0/8", "::1", False),
        ("t.net in (192.168.0.0/16, 'fe80::/10')", "fe80::1", True),
        ("t.net in (192.168.0.0/16, 'fe80::/10')", "10.0.0.1", False),
    ])
    def test_operators(self, cond, value, want):
        key = "ip" if cond.startswith("t.ip") else "net"
        assert matches(cond, **{key: value}) is want


class TestListFields:
    """A list field: in = all values in the set, intersects = one is; others refused."""

    def test_in_and_intersects(self):
        assert matches("t.list in (a, b, c)", list=("a", "b")) is True
        assert matches("t.list in (a, c)", list=("a", "b")) is False
        assert matches("t.list intersects (c, b)", list=("a", "b")) is True
        assert matches("t.list intersects (c)", list=("a", "b")) is False
        assert matches("len(t.list) = 2", list=("a", "b")) is True

    def test_scalar_operators_refused(self):
        assert "list field" in compile_error("t.list = a").message


class TestAnyOf:
    """A multi-valued field without its argument (proc.aname) matches if any value does."""

    def test_any_value(self):
        anc = ("bash", "sshd", "systemd")
        assert matches("t.anc = sshd", anc=anc) is True
        assert matches("t.anc = nginx", anc=anc) is False
        assert matches("t.anc in (nginx, systemd)", anc=anc) is True
        assert matches("t.anc startswith sys", anc=anc) is True
        assert matches("t.anc != bash", anc=anc) is True  # sshd differs
        assert matches("tolower(t.anc) = sshd", anc=("BASH", "SSHD")) is True
        assert matches("len(t.anc) = 3", anc=anc) is True  # counts the values
        assert matches("len(tolower(t.anc)) = 2", anc=("A", "B")) is True

    def test_with_argument_is_one_value(self):
        assert matches("t.anc[2] = sshd", **{"anc[2]": "sshd"}) is True
        assert matches("t.anc[2] = sshd", **{"anc[2]": "bash"}) is False


class TestTransformers:
    """Transformers apply before comparing, innermost first; types are checked."""

    @pytest.mark.parametrize("cond,value,want", [
        ("tolower(t.str) = bash", "BaSh", True), ("toupper(t.str) = BASH", "bash", True),
        ("toupper(tolower(t.str)) = BASH", "bAsH", True), ("basename(t.path) = sh", "/bin/sh", True),
        ("basename(t.path) = ''", "/bin/", True), ("basename(t.path) = sh", "sh", True),
        ("len(t.str) = 4", "bash", True), ("len(t.str) > 4", "bash", False),
        ("len(t.str) = 2", "é", True), ("b64(t.str) = hello", "aGVsbG8=", True),
        ("b64(t.str) = hello", "aGVsbG8", True), ("b64(t.str) exists", "%%%", False),
        ("tolower(t.str) = 'é'", "É", False),  # ASCII only, as C's tolower
    ])
    def test_values(self, cond, value, want):
        key = "path" if "t.path" in cond else "str"
        assert matches(cond, **{key: value}) is want

    @pytest.mark.parametrize("cond", ["tolower(t.int) = 1", "len(t.int) = 1", "basename(t.buf) = x",
                                      "toupper(t.bool) = x"])
    def test_type_errors(self, cond):
        assert "cannot apply" in compile_error(cond).message

    def test_list_fields_transform_each_value(self):
        assert matches("tolower(t.list) in (a, b)", list=("A", "b")) is True
        assert matches("basename(t.list) intersects (sh)", list=("/bin/sh", "/x/y")) is True
        assert "list field" in compile_error("tolower(t.list) = a").message


class TestFieldValues:
    """val(field) and transformed fields on the right compare two fields of one event."""

    def test_val(self):
        assert matches("t.str = val(t.str2)", str="a", str2="a") is True
        assert matches("t.str != val(t.str2)", str="a", str2="b") is True
        assert matches("t.int < val(t.int2)", int=1, int2=2) is True
        assert matches("t.str startswith val(t.str2)", str="abc", str2="ab") is True
        assert matches("t.str in val(t.list)", str="b", list=("a", "b")) is True
        assert matches("t.str = tolower(t.str2)", str="abc", str2="ABC") is True
        assert matches("t.anc = val(t.str)", anc=("x", "y"), str="y") is True

    def test_mismatched_types_refused(self):
        assert "cannot compare" in compile_error("t.str = val(t.int)").message

    def test_pmatch_and_regex_refuse_fields(self):
        compile_error("t.str regex val(t.str2)")
        compile_error("t.net = val(t.ip)")


class TestResolution:
    """Names, arguments and macros are resolved at compile time, with positions."""

    def test_unknown_field_names_it_with_column(self):
        err = compile_error("t.str = a and t.nope = b")
        assert "t.nope" in err.message and err.position.column == 15

    def test_suffix_field_values_typed_per_event(self):
        """evt.rawarg.NAME is an int for some events, a str for others: compared as each."""
        assert matches("t.arg.fd = 3", **{"arg.fd": 3}) is True
        assert matches("t.arg.fd = 3", **{"arg.fd": 4}) is False
        assert matches("t.arg.res < 0", **{"arg.res": -2}) is True
        assert matches("t.arg.fd in (3, 4)", **{"arg.fd": 4}) is True
        assert matches("t.arg.name = x", **{"arg.name": 3}) is False
        assert matches("t.arg.name startswith /e", **{"arg.name": "/etc"}) is True

    def test_suffix_and_key_arguments(self):
        assert matches("t.arg.fd = 3", **{"arg.fd": "3"}) is True
        assert matches("t.env[HOME] = /root", **{"env[HOME]": "/root"}) is True

    def test_required_argument(self):
        assert "argument" in compile_error("t.env = x").message

    def test_integer_argument(self):
        assert "integer" in compile_error("t.anc[x] = y").message

    def test_unresolved_macro_is_an_error(self):
        err = compile_error("t.str = a and some_macro")
        assert "some_macro" in err.message and err.position.column == 15

    def test_unresolved_list_name_is_its_text(self):
        assert matches("t.str in (bash, sh)", str="bash") is True
        assert matches("t.str in bash", str="bash") is True

    def test_operator_refused_by_type(self):
        assert "not supported" in compile_error("t.int contains 3").message
        assert "not supported" in compile_error("t.str bcontains 41").message
        assert "pmatch" in compile_error("t.int pmatch (1)").message

    def test_bad_regex(self):
        assert "regex" in compile_error("t.str regex '('").message


class TestMatcher:
    """The matcher is generated code with its metadata attached."""

    def test_metadata(self):
        m = compile_filter(parse("t.str = a and not t.int > 3 or t.arg.fd exists"), lookup=lookup)
        assert m.fields == frozenset({"t.str", "t.int", "t.arg.fd"})
        assert "def _matcher(view)" in m.source
        assert m.evttypes is None

    def test_boolean_structure(self):
        cond = "(t.str = a or t.str = b) and not t.int = 1"
        assert matches(cond, str="a", int=2) is True
        assert matches(cond, str="b", int=1) is False
        assert matches(cond, str="c", int=2) is False

    def test_results_are_bools(self):
        m = compile_filter(parse("t.str = a or t.int > 1"), lookup=lookup)
        assert m({"t.str": "b", "t.int": None}) is False
        assert m({"t.str": "a"}) is True

    def test_type_mismatch_at_runtime_is_false_and_counted(self):
        m = compile_filter(parse("t.str < 3"), lookup=lookup)
        assert m({"t.str": 2}) is False
        assert m.type_errors[0] == 1


class TestExtractOnce:
    """A field used at several places is extracted at most once per event, and only if needed."""

    def test_counts(self):
        calls = []

        def extract(view):
            calls.append(view)
            return view["v"]
        fields = dict(FIELDS, **{"t.counted": Field("t.counted", T.CHARBUF, "", extract)})
        m = compile_filter(parse("(t.counted = a and t.str = x) or (t.counted = b and t.str = y) "
                                 "or t.counted startswith c"), lookup=fields.__getitem__)
        assert m({"v": "b", "t.str": "y"}) is True and len(calls) == 1
        assert m({"v": "zz", "t.str": "y"}) is False and len(calls) == 2
        calls.clear()
        m2 = compile_filter(parse("t.str = q and (t.counted = a or t.counted = b)"),
                            lookup=fields.__getitem__)
        assert m2({"v": "a", "t.str": "nope"}) is False and calls == []  # never needed
