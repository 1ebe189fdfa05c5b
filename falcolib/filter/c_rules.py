"""The rules of the open* and socket exits as programs the C loop evaluates
(falcolib/_speedups_rules.c).

During a capture replay most open exits raise no alert, yet each cost Python a
parse and every rule of its type. ``build(ruleset, types)`` turns, once, the
conditions of the rules an open* exit type meets into one program per type:
the OR of those conditions in three-valued (Kleene) logic, where each leaf is
either a test C answers exactly or UNKNOWN. The C loop hands Python an event
unless the program is FALSE on it, i.e. unless every rule is FALSE; Python's
matcher stays the authority for every event it is handed.

What is folded here (constant per event type): ``evt.type`` and ``evt.dir``
(``=``, ``!=``, ``in``), and ``evt.is_open_*`` on the types whose exit has no
flags (always false there). What C tests: ``fd.name``, ``fd.directory``,
``fd.filename``, ``fd.nameraw``, ``fd.typechar`` (``=``, ``!=``, ``in``,
``startswith``, ``endswith``, ``contains``, ``glob`` without ranges/escapes,
``exists``); ``fd.num`` and ``evt.num`` (``=``, ``!=``, ``<``, ``<=``, ``>``,
``>=``, ``in``, ``exists``), ``evt.rawres`` (the fd) and ``evt.res``
(``SUCCESS``) of an open that added an fd; ``evt.is_open_read``/``evt.is_open_write``
(``=``/``!=`` true/false); ``proc.name``, ``proc.exe``, ``proc.pname``,
``proc.pexe``, ``proc.aname[N]``, ``proc.aexe[N]`` (the string operators). A
missing value makes a comparison false, as the compiled matcher does. Every
other test (transformers, other fields or operators, a literal the field's
type refuses) is UNKNOWN. The fd and result tests apply to the open* exits
only (``build``'s ``opens``); the other types (socket exits) get the rest.

``evt.arg.NAME``/``evt.rawarg.NAME`` have no value where the event has no
parameter NAME: FALSE on a type whose table has none, else ``has parameter i
AND UNKNOWN`` (C reads the event's parameter count: an exit of an older layout
lacks the newer parameters).
"""
from __future__ import annotations

from falcolib.filter import ast
from falcolib.filter.operators import Operator

# node kinds, test fields and operators: the numbers of _speedups_rules.c
N_TEST, N_NOT, N_AND, N_OR, N_CONST = 0, 1, 2, 3, 4
FALSE, TRUE, UNKNOWN = 0, 1, 2
(RF_FD_NAME, RF_FD_DIRECTORY, RF_FD_FILENAME, RF_FD_NAMERAW, RF_FD_TYPECHAR, RF_FD_NUM,
 RF_EVT_NUM, RF_OPEN_FLAG, RF_COMM, RF_EXE, RF_EVT_RAWRES, RF_EVT_RES, RF_HAS_PARAM) = range(1, 14)
_OPS = {Operator.EQ: 1, Operator.NE: 2, Operator.IN: 3, Operator.STARTSWITH: 4,
        Operator.ENDSWITH: 5, Operator.CONTAINS: 6, Operator.GLOB: 7, Operator.LT: 8,
        Operator.LE: 9, Operator.GT: 10, Operator.GE: 11, Operator.EXISTS: 12}
_STRING_OPS = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.STARTSWITH,
                         Operator.ENDSWITH, Operator.CONTAINS, Operator.GLOB, Operator.EXISTS})
_NUMBER_OPS = frozenset({Operator.EQ, Operator.NE, Operator.IN, Operator.LT, Operator.LE,
                         Operator.GT, Operator.GE, Operator.EXISTS})
MAX_DEPTH = 150          # the C side refuses deeper programs (it recurses)
MAX_NODES = 1 << 20

# field name -> (C field code, the extractor's module and name: the test is made only
# while the catalogue still holds that very extractor)
_FD = {"fd.name": (RF_FD_NAME, "fd_name"), "fd.directory": (RF_FD_DIRECTORY, "fd_directory"),
       "fd.filename": (RF_FD_FILENAME, "fd_filename"), "fd.nameraw": (RF_FD_NAMERAW, "fd_nameraw"),
       "fd.typechar": (RF_FD_TYPECHAR, "fd_typechar")}
# proc fields C reads from the thread table: (code, whose: 0 thread, 1 parent, 2 ancestor)
_PROC = {"proc.name": (RF_COMM, 0), "proc.exe": (RF_EXE, 0), "proc.pname": (RF_COMM, 1),
         "proc.pexe": (RF_EXE, 1), "proc.aname": (RF_COMM, 2), "proc.aexe": (RF_EXE, 2)}


class Program:
    """The tests and nodes of every type's program, as ``Printer(rules=...)`` takes them."""

    def __init__(self, opens=None):
        self.tests: list[tuple] = []
        self._test_ids: dict[tuple, int] = {}
        self.nodes: list[int] = []
        self.roots: dict[int, int] = {}
        self.opens = opens   # the types whose fd C has (open* exits); None: every type

    def has_fd(self, t: int) -> bool:
        return self.opens is None or t in self.opens

    def spec(self) -> tuple[list, list, dict]:
        return self.tests, self.nodes, self.roots

    def test(self, key: tuple) -> int:
        i = self._test_ids.get(key)
        if i is None:
            i = self._test_ids[key] = len(self.tests)
            self.tests.append(key)
        return i

    def emit(self, tree) -> int:
        """Append ``tree`` (a constant, ("test", i), ("not", t), ("and"|"or", [t...]))
        in prefix order; its first node's index."""
        start = len(self.nodes) // 3
        match tree:
            case int():
                self.nodes += [N_CONST, tree, 1]
            case ("test", i):
                self.nodes += [N_TEST, i, 1]
            case ("not", item):
                self.nodes += [N_NOT, 0, 0]
                self.emit(item)
            case (kind, items):
                self.nodes += [N_AND if kind == "and" else N_OR, len(items), 0]
                for item in items:
                    self.emit(item)
        self.nodes[3 * start + 2] = len(self.nodes) // 3 - start
        return start


def build(ruleset, types, opens=None) -> Program | None:
    """The programs of ``types`` (exit types the C loop parses) for the active rules of
    ``ruleset``; a type whose rules cannot be FALSE in C gets none. None when no type
    gets one. ``opens``: those of ``types`` that are open* exits, whose fd the tests read
    (default: all)."""
    prog = Program(opens)
    for t in sorted(types):
        tree = type_tree(ruleset, t, prog)
        if tree is None or tree in (TRUE, UNKNOWN) or _depth(tree) > MAX_DEPTH:
            continue
        prog.roots[t] = prog.emit(tree)
        if len(prog.nodes) > 3 * MAX_NODES:
            return None
    return prog if prog.roots else None


def type_tree(ruleset, t: int, prog: Program):
    """The OR of the conditions of the rules events of type ``t`` meet, folded for ``t``;
    None when a rule is no plain compiled condition."""
    items = []
    memo: dict = {}
    for rule in ruleset.matcher_for(t):
        node = getattr(rule.matcher, "condition", None)
        if node is None:
            return None
        items.append(fold(node, t, prog, memo))
    return _join("or", items)


def fold(node, t: int, prog: Program, memo: dict | None = None):
    """``node`` for events of type ``t``: a constant, or a tree of C tests. ``memo`` (one
    dict per type) keeps each subtree's result by identity: an expanded macro met in
    several rules is folded once."""
    if memo is None:
        return _fold(node, t, prog, {})
    return _fold(node, t, prog, memo)


def _fold(node, t: int, prog: Program, memo: dict):
    hit = memo.get(id(node))
    if hit is not None:
        return hit[1]
    folded = _fold_node(node, t, prog, memo)
    memo[id(node)] = (node, folded)   # the node kept: its id stays its own
    return folded


def _fold_node(node, t: int, prog: Program, memo: dict):
    match node:
        case ast.And(items):
            return _join("and", [_fold(i, t, prog, memo) for i in items])
        case ast.Or(items):
            return _join("or", [_fold(i, t, prog, memo) for i in items])
        case ast.Not(item):
            inner = _fold(item, t, prog, memo)
            if isinstance(inner, int):
                return inner if inner == UNKNOWN else 1 - inner
            if isinstance(inner, tuple) and inner[0] == "not":
                return inner[1]
            return ("not", inner)
        case ast.Compare() | ast.Unary():
            return leaf(node, t, prog)
    return UNKNOWN


def _join(kind: str, items: list):
    """AND/OR of folded items: constants absorbed (Kleene), UNKNOWN kept."""
    stop, neutral = (FALSE, TRUE) if kind == "and" else (TRUE, FALSE)
    kept = []
    for item in items:
        if item == stop and isinstance(item, int):
            return stop
        if isinstance(item, int) and item == neutral:
            continue
        if isinstance(item, tuple) and item[0] == kind:
            kept += item[1]
        elif not (isinstance(item, int) and kept and kept[-1] == UNKNOWN and item == UNKNOWN):
            kept.append(item)
    if not kept:
        return neutral
    if len(kept) == 1:
        return kept[0]
    return (kind, kept)


def _depth(tree) -> int:
    match tree:
        case ("not", item):
            return 1 + _depth(item)
        case ("and" | "or", items):
            return 1 + max(_depth(i) for i in items)
    return 1


def leaf(node, t: int, prog: Program):
    """A comparison for type ``t``: a constant or ("test", index)."""
    ref = node.field
    if ref.transformers or isinstance(getattr(node, "value", None), ast.FieldValue):
        return UNKNOWN
    op = node.op
    name = ref.name
    if name in ("evt.type", "evt.dir"):
        return _constant(node, _type_value(name, t))
    if name in ("evt.is_open_read", "evt.is_open_write"):
        return _open_flag(node, t, prog)
    if name.startswith(("evt.arg", "evt.rawarg")):
        return _param_leaf(ref, t, prog)
    if not prog.has_fd(t) and (name in _FD or name in ("evt.rawres", "evt.res", "fd.num")):
        return UNKNOWN
    if name in _FD and ref.arg is None and _is_catalogued(name, "falcolib.fields.fd", _FD[name][1]):
        return _string_test(node, _FD[name][0], 0, 0, prog)
    if name in ("evt.rawres", "evt.res") and ref.arg is None and _res_is_fd(t) and \
            _is_catalogued(name, "falcolib.fields.evt", name.replace(".", "_")):
        if name == "evt.res":
            return _string_test(node, RF_EVT_RES, 0, 0, prog)
        return _number_test(node, RF_EVT_RAWRES, prog)
    if name in ("fd.num", "evt.num") and ref.arg is None and _is_catalogued(
            name, "falcolib.fields.fd" if name == "fd.num" else "falcolib.fields.evt_time",
            "fd_num" if name == "fd.num" else "evt_num"):
        return _number_test(node, RF_FD_NUM if name == "fd.num" else RF_EVT_NUM, prog)
    if name in _PROC and _proc_catalogued(name):
        code, whose = _PROC[name]
        n = 0
        if whose == 2:
            if ref.arg is None or not ref.arg.isdigit() or len(ref.arg) > 3:
                return UNKNOWN   # any ancestor, or an odd index: Python
            n = int(ref.arg)
        elif ref.arg is not None:
            return UNKNOWN
        return _string_test(node, code, whose, n, prog)
    del op
    return UNKNOWN


def _is_catalogued(name: str, module: str, func: str) -> bool:
    from falcolib.fields import lookup
    try:
        f = lookup(name)
    except Exception:   # noqa: BLE001 (an unknown field: no test)
        return False
    ex = f.extract
    return getattr(ex, "__module__", None) == module and getattr(ex, "__name__", None) == func \
        and not f.binder


def _param_leaf(ref, t: int, prog: Program):
    """``evt.arg.NAME``/``evt.rawarg.NAME`` (or ``[NAME]``), whatever the comparison: no
    value (FALSE) where the event has no parameter NAME, UNKNOWN where it has. The
    parameter's index is the type's (decode.args._param_index, where both catalogue
    extractors look first), and it is there when the event has more parameters."""
    from falcolib.decode.args import _param_index
    from falcolib.fields import evt as E
    from falcolib.fields import lookup
    try:
        f = lookup(ref.name)
    except Exception:   # noqa: BLE001 (an unknown field: no test)
        return UNKNOWN
    if (f.extract, f.binder) not in ((E.evt_arg, E._bind_arg), (E.evt_rawarg, E._bind_rawarg)):
        return UNKNOWN
    if ref.name != f.name:
        if ref.arg is not None:
            return UNKNOWN
        key = ref.name[len(f.name) + 1:]
    else:
        key = ref.arg
    try:
        k = E._arg_key(key) if key else None
    except Exception:   # noqa: BLE001 (the compiler refuses it)
        return UNKNOWN
    if not isinstance(k, str):
        return UNKNOWN   # evt.arg[N]: by position
    i = _param_index(t, k)
    if i is None:
        return FALSE
    return ("and", [("test", prog.test((RF_HAS_PARAM, _OPS[Operator.EXISTS], 0, i, 0))),
                    UNKNOWN])


def _res_is_fd(t: int) -> bool:
    """Whether evt.res/evt.rawres read the exit's first parameter, its "fd" (fields/evt._res:
    no "res" parameter, an fd-creating exit), which C has as the fd it adds."""
    from falcolib.decode.table import EVENTS
    from falcolib.fields.evt import EF
    info = EVENTS[t]
    return t % 2 == 1 and info.index("res") is None and bool(info.flags & EF["EF_CREATES_FD"]) \
        and info.index("fd") == 0


def _proc_catalogued(name: str) -> bool:
    from falcolib.fields import lookup
    try:
        f = lookup(name)
    except Exception:   # noqa: BLE001
        return False
    return getattr(f.extract, "__module__", None) == "falcolib.fields.proc"


def _texts(node) -> list[str] | None:
    """The literal texts of the comparison (one unless ``in``), as the compiler reads them."""
    if isinstance(node, ast.Unary):
        return []
    value = node.value
    if node.op is Operator.IN:
        match value:
            case ast.ListValue(items):
                return [i.text if isinstance(i, ast.Literal) else i.name for i in items]
            case ast.ListRef(n):
                return [n]
            case ast.Literal(text):
                return [text]
        return None
    match value:
        case ast.Literal(text):
            return [text]
        case ast.ListRef(n):
            return [n]
    return None


def _type_value(name: str, t: int) -> str:
    from falcolib.decode.table import EVENTS
    if name == "evt.dir":
        return ">" if t % 2 == 0 else "<"
    return EVENTS[t].name


def _constant(node, value: str):
    """evt.type/evt.dir: the same value on every event of the type"""
    texts = _texts(node)
    if texts is None or node.field.arg is not None:
        return UNKNOWN
    match node.op:
        case Operator.EQ if len(texts) == 1:
            return TRUE if value == texts[0] else FALSE
        case Operator.NE if len(texts) == 1:
            return TRUE if value != texts[0] else FALSE
        case Operator.IN:
            return TRUE if value in texts else FALSE
        case Operator.EXISTS:
            return TRUE
    return UNKNOWN


def _open_flag(node, t: int, prog: Program):
    from falcolib.fields import evt_flags
    from falcolib.fields import lookup
    name = node.field.name
    f = lookup(name)
    expected = evt_flags.evt_is_open_read if name == "evt.is_open_read" else \
        evt_flags.evt_is_open_write
    if f.extract is not expected or node.field.arg is not None:
        return UNKNOWN
    texts = _texts(node)
    if node.op is Operator.EXISTS:
        return TRUE    # a bool, never missing
    if texts is None or len(texts) != 1 or node.op not in (Operator.EQ, Operator.NE) \
            or texts[0] not in ("true", "false"):
        return UNKNOWN
    want = texts[0] == "true"
    if t not in evt_flags._OPEN_CODES:
        same = want is False   # the field is false on these types
        return TRUE if same == (node.op is Operator.EQ) else FALSE
    mask = evt_flags._O_RDONLY if name == "evt.is_open_read" else evt_flags._O_WRONLY
    return ("test", prog.test((RF_OPEN_FLAG, _OPS[node.op], 0, mask, int(want))))


def _string_test(node, code: int, whose: int, n: int, prog: Program):
    op = node.op
    if op not in _STRING_OPS:
        return UNKNOWN
    texts = _texts(node)
    if texts is None:
        return UNKNOWN
    if op is Operator.EXISTS:
        return ("test", prog.test((code, _OPS[op], whose, n, 0)))
    if op is Operator.IN:
        return ("test", prog.test((code, _OPS[op], whose, n, frozenset(texts))))
    if len(texts) != 1:
        return UNKNOWN
    text = texts[0]
    if op is Operator.GLOB and ("[" in text or "\\" in text or not text.isascii()):
        return UNKNOWN   # ranges and escapes: Python's glob only
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return UNKNOWN
    return ("test", prog.test((code, _OPS[op], whose, n, text)))


def _number_test(node, code: int, prog: Program):
    from falcolib.fields import lookup
    from falcolib.filter import literals
    op = node.op
    if op not in _NUMBER_OPS:
        return UNKNOWN
    if op is Operator.EXISTS:
        return ("test", prog.test((code, _OPS[op], 0, 0, 0)))
    texts = _texts(node)
    if not texts:
        return UNKNOWN
    f = lookup(node.field.name)
    try:
        values = [literals.convert(x, f.type, node.field.name) for x in texts]
    except Exception:   # noqa: BLE001 (a literal the compiler would refuse)
        return UNKNOWN
    if not all(type(v) is int and -(1 << 63) <= v < (1 << 63) for v in values):
        return UNKNOWN
    if op is Operator.IN:
        return ("test", prog.test((code, _OPS[op], 0, 0, frozenset(values))))
    if len(values) != 1:
        return UNKNOWN
    return ("test", prog.test((code, _OPS[op], 0, 0, values[0])))
