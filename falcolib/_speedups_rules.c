/*
 * falcolib._speedups: the rules decided in C for the open* and socket exits. Per event
 * type, one program, the OR of the conditions of every rule of that type (built once by
 * falcolib/filter/c_rules.py from the compiled rules), evaluated in three-valued
 * (Kleene) logic over the tests C answers exactly, on the fd the open adds
 * (_speedups_open.c; the other types have no fd test), the thread and the event's own
 * parameter count; a test it cannot answer is UNKNOWN. Only an event every rule is
 * FALSE on stays out of Python. Nothing from the capture is ever evaluated: its
 * strings are compared with the rules' literals.
 */
#include "_speedups.h"
#include <limits.h>

#define MAX_DEPTH 200

/* ------------------------------------------------------------ the rules */

/* test fields and operators (falcolib/filter/c_rules.py gives the same numbers) */
enum { RF_FD_NAME = 1, RF_FD_DIRECTORY, RF_FD_FILENAME, RF_FD_NAMERAW, RF_FD_TYPECHAR,
       RF_FD_NUM, RF_EVT_NUM, RF_OPEN_FLAG, RF_COMM, RF_EXE, RF_EVT_RAWRES, RF_EVT_RES,
       RF_HAS_PARAM };   /* RF_HAS_PARAM: the event has parameter n (nparams > n) */
enum { OP_EQ = 1, OP_NE, OP_IN, OP_STARTSWITH, OP_ENDSWITH, OP_CONTAINS, OP_GLOB,
       OP_LT, OP_LE, OP_GT, OP_GE, OP_EXISTS };
enum { N_TEST = 0, N_NOT = 1, N_AND = 2, N_OR = 3, N_CONST = 4 };
enum { K_FALSE = 0, K_TRUE = 1, K_UNKNOWN = 2 };

typedef struct {
    int field, op, whose, n;   /* n: ancestor depth, or the flag bit of RF_OPEN_FLAG */
    PyObject *value;           /* frozenset (OP_IN) or str (other string tests) */
    const char *s;             /* the str's UTF-8 */
    Py_ssize_t slen;
    long long num;             /* numeric operand (OP_IN on numbers: the set holds ints) */
} RTest;

struct RuleSet {
    RTest *tests;
    Py_ssize_t ntests;
    int *nodes;                /* (kind, arg, size) triples, each program in prefix order */
    Py_ssize_t nnodes;
    Py_ssize_t *root;          /* per type: its program's first node, -1 none */
    Py_ssize_t ntypes;
    unsigned char *memo;       /* per test: its value for the event being decided */
    uint64_t *memo_gen, gen;
    const unsigned char *blk;  /* the event being decided */
    int opened;                /* it is an open* exit, prepared: the fd tests apply */
};

/* The Printer goes: the programs with it */
void
rules_free(Printer *self)
{
    struct RuleSet *rs = self->rules;
    if (rs == NULL)
        return;
    for (Py_ssize_t i = 0; i < rs->ntests; i++)
        Py_XDECREF(rs->tests[i].value);
    PyMem_Free(rs->tests);
    PyMem_Free(rs->nodes);
    PyMem_Free(rs->root);
    PyMem_Free(rs->memo);
    PyMem_Free(rs->memo_gen);
    PyMem_Free(rs);
    self->rules = NULL;
}

/* Whether events of type t have a program (the rules decide them here) */
int
rules_has(Printer *self, unsigned t)
{
    struct RuleSet *rs = self->rules;
    return rs != NULL && (Py_ssize_t)t < rs->ntypes && rs->root[t] >= 0;
}

/* Node i's subtree lies within [i, end) and so do its children's; depth bounded */
static int
check_tree(struct RuleSet *rs, Py_ssize_t i, Py_ssize_t end, int depth)
{
    if (depth > MAX_DEPTH || i < 0 || i >= end)
        return 0;
    int kind = rs->nodes[3 * i], arg = rs->nodes[3 * i + 1], size = rs->nodes[3 * i + 2];
    if (size < 1 || i + size > end)
        return 0;
    switch (kind) {
    case N_TEST:
        return size == 1 && arg >= 0 && arg < rs->ntests;
    case N_CONST:
        return size == 1 && arg >= K_FALSE && arg <= K_UNKNOWN;
    case N_NOT:
        return check_tree(rs, i + 1, i + size, depth + 1) && 1 + rs->nodes[3 * (i + 1) + 2] == size;
    case N_AND:
    case N_OR: {
        Py_ssize_t j = i + 1;
        for (int k = 0; k < arg; k++) {
            if (!check_tree(rs, j, i + size, depth + 1))
                return 0;
            j += rs->nodes[3 * j + 2];
        }
        return arg >= 1 && j == i + size;
    }
    }
    return 0;
}

/* spec: (tests, nodes, roots): tests [(field, op, whose, n, value)], nodes a flat
 * sequence of ints (kind, arg, size per node), roots {type: first node} */
int
rules_init(Printer *self, PyObject *spec)
{
    PyObject *tests, *nodes, *roots;
    if (self->state == NULL || self->open == NULL) {
        PyErr_SetString(PyExc_TypeError, "rules need the state and the open parser");
        return -1;
    }
    if (!PyArg_ParseTuple(spec, "O!O!O!", &PyList_Type, &tests, &PyList_Type, &nodes,
                          &PyDict_Type, &roots))
        return -1;
    struct RuleSet *rs = PyMem_Calloc(1, sizeof *rs);
    if (rs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->rules = rs;
    Py_ssize_t nt = PyList_GET_SIZE(tests), nn = PyList_GET_SIZE(nodes);
    rs->tests = PyMem_Calloc(nt ? nt : 1, sizeof(RTest));
    rs->memo = PyMem_Calloc(nt ? nt : 1, 1);
    rs->memo_gen = PyMem_Calloc(nt ? nt : 1, sizeof(uint64_t));
    rs->nodes = PyMem_Calloc(nn ? nn : 1, sizeof(int));
    rs->ntypes = self->nactions;
    rs->root = PyMem_Malloc((rs->ntypes ? rs->ntypes : 1) * sizeof(Py_ssize_t));
    if (!rs->tests || !rs->memo || !rs->memo_gen || !rs->nodes || !rs->root) {
        PyErr_NoMemory();
        return -1;
    }
    rs->gen = 1;
    for (Py_ssize_t i = 0; i < nt; i++) {
        RTest *tt = &rs->tests[i];
        PyObject *value;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(tests, i), "iiiiO", &tt->field, &tt->op,
                              &tt->whose, &tt->n, &value))
            return -1;
        rs->ntests = i + 1;
        if (tt->field < RF_FD_NAME || tt->field > RF_HAS_PARAM || tt->op < OP_EQ || tt->op > OP_EXISTS ||
            tt->whose < 0 || tt->whose > 2 || tt->n < 0) {
            PyErr_SetString(PyExc_ValueError, "no such rule test");
            return -1;
        }
        if (PyUnicode_Check(value)) {
            tt->s = PyUnicode_AsUTF8AndSize(value, &tt->slen);
            if (tt->s == NULL)
                return -1;
        } else if (PyLong_Check(value)) {
            tt->num = PyLong_AsLongLong(value);
            if (tt->num == -1 && PyErr_Occurred())
                return -1;
        } else if (!PyFrozenSet_Check(value) || tt->op != OP_IN) {
            PyErr_SetString(PyExc_ValueError, "a rule test's value is a str, int or frozenset");
            return -1;
        }
        Py_INCREF(value);
        tt->value = value;
        int text = tt->field != RF_FD_NUM && tt->field != RF_EVT_NUM &&
                   tt->field != RF_OPEN_FLAG && tt->field != RF_EVT_RAWRES &&
                   tt->field != RF_HAS_PARAM;
        if (text && tt->op != OP_IN && tt->op != OP_EXISTS && tt->s == NULL) {
            PyErr_SetString(PyExc_ValueError, "a string test needs a str");
            return -1;
        }
    }
    rs->nnodes = nn / 3;
    for (Py_ssize_t i = 0; i < rs->nnodes * 3; i++) {
        long v = PyLong_AsLong(PyList_GET_ITEM(nodes, i));
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (v < INT_MIN || v > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "a rule node is out of range");
            return -1;
        }
        rs->nodes[i] = (int)v;
    }
    for (Py_ssize_t t = 0; t < rs->ntypes; t++)
        rs->root[t] = -1;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(roots, &pos, &k, &v)) {
        Py_ssize_t t = PyLong_AsSsize_t(k), r = PyLong_AsSsize_t(v);
        if ((t == -1 || r == -1) && PyErr_Occurred())
            return -1;
        if (t < 0 || t >= rs->ntypes || !check_tree(rs, r, rs->nnodes, 0)) {
            PyErr_SetString(PyExc_ValueError, "a rule program is malformed");
            return -1;
        }
        rs->root[t] = r;
    }
    return 0;
}

/* haystack contains needle (bytes) */
static int
has_sub(const char *s, Py_ssize_t n, const char *p, Py_ssize_t pn)
{
    if (pn == 0)
        return 1;
    for (Py_ssize_t i = 0; i + pn <= n; i++)
        if (s[i] == p[0] && memcmp(s + i, p, pn) == 0)
            return 1;
    return 0;
}

/* A string test on value (s, n); ``obj`` makes its str for a set lookup (NULL: none
 * yet, made by ``make``). K_* or -1. */
static int
str_test(RTest *tt, const char *s, Py_ssize_t n, PyObject *obj, int ascii)
{
    switch (tt->op) {
    case OP_EQ:
        return n == tt->slen && memcmp(s, tt->s, n) == 0;
    case OP_NE:
        return !(n == tt->slen && memcmp(s, tt->s, n) == 0);
    case OP_IN:
        return obj == NULL ? K_UNKNOWN : PySet_Contains(tt->value, obj);
    case OP_STARTSWITH:
        return n >= tt->slen && memcmp(s, tt->s, tt->slen) == 0;
    case OP_ENDSWITH:
        return n >= tt->slen && memcmp(s + n - tt->slen, tt->s, tt->slen) == 0;
    case OP_CONTAINS:
        return has_sub(s, n, tt->s, tt->slen);
    case OP_GLOB:
        return ascii ? wildcard(tt->s, tt->slen, s, n) : K_UNKNOWN;
    case OP_EXISTS:
        return K_TRUE;
    }
    return K_UNKNOWN;
}

/* A numeric test on value v: K_* or -1 */
static int
num_test(RTest *tt, long long v)
{
    switch (tt->op) {
    case OP_EQ: return v == tt->num;
    case OP_NE: return v != tt->num;
    case OP_LT: return v < tt->num;
    case OP_LE: return v <= tt->num;
    case OP_GT: return v > tt->num;
    case OP_GE: return v >= tt->num;
    case OP_EXISTS: return K_TRUE;
    case OP_IN: {
        PyObject *o = PyLong_FromLongLong(v);
        if (o == NULL)
            return -1;
        int r = PySet_Contains(tt->value, o);
        Py_DECREF(o);
        return r;
    }
    }
    return K_UNKNOWN;
}

/* (s, n) of the fd field ``field`` of the prepared open; 0 no value, 1 value */
static int
fd_text(struct OpenParse *op, int field, const char **s, Py_ssize_t *n, PyObject ***obj)
{
    const char *p = op->path;
    Py_ssize_t len = op->pathlen, pos = len - 1;
    while (pos >= 0 && p[pos] != '/')
        pos--;
    switch (field) {
    case RF_FD_NAME:
        *s = p;
        *n = len;
        *obj = &op->name_obj;
        return 1;
    case RF_FD_NAMERAW:   /* fi.nameraw, or fd.name when empty */
        *obj = op->rawlen ? &op->raw_obj : &op->name_obj;
        *s = op->rawlen ? (const char *)op->raw : p;
        *n = op->rawlen ? op->rawlen : len;
        return 1;
    case RF_FD_TYPECHAR:
        *s = op->is_dir ? "d" : "f";
        *n = 1;
        *obj = NULL;
        return 1;
    case RF_EVT_RES:      /* an open that added an fd succeeded */
        *s = "SUCCESS";
        *n = 7;
        *obj = NULL;
        return 1;
    case RF_FD_DIRECTORY:   /* fields/fd._dirname for files, the name for directories */
        *obj = &op->dir_obj;
        if (op->is_dir) {
            *s = p;
            *n = len;
        } else if (pos > 0) {
            *s = p;
            *n = pos < len - 1 ? pos : len;
        } else {
            *s = "/";
            *n = 1;
        }
        return 1;
    case RF_FD_FILENAME:    /* fields/fd.fd_filename: files only */
        if (op->is_dir)
            return 0;
        *obj = &op->file_obj;
        if (pos < 0) {
            *s = "/";
            *n = 1;
        } else if (pos < len - 1) {
            *s = p + pos + 1;
            *n = len - pos - 1;
        } else {
            *s = p;
            *n = len;
        }
        return 1;
    }
    return 0;
}

/* One test on the event: K_* or -1 */
static int
run_test(Printer *self, RTest *tt, uint64_t num, PyObject *thread)
{
    struct OpenParse *op = self->open;
    switch (tt->field) {
    case RF_EVT_NUM:
        if (num > (uint64_t)LLONG_MAX)
            return K_UNKNOWN;
        return num_test(tt, (long long)num);
    case RF_HAS_PARAM:
        return self->rules->blk != NULL && rd32(self->rules->blk + 32) > (uint32_t)tt->n;
    case RF_COMM:
    case RF_EXE:
        break;
    default:
        if (!self->rules->opened)
            return K_UNKNOWN;   /* the fd tests: an open* exit's only */
    }
    switch (tt->field) {
    case RF_OPEN_FLAG: {   /* evt.is_open_read/write = true|false: n the flag bit */
        int b = op->has_exit_flags && (op->exit_flags & tt->n);
        if (tt->op == OP_EQ)
            return b == (tt->num != 0);
        if (tt->op == OP_NE)
            return b != (tt->num != 0);
        return K_UNKNOWN;
    }
    case RF_FD_NUM:
    case RF_EVT_RAWRES:   /* the fd the open returned (its "fd" parameter, >= 0 here) */
        return op->adds ? num_test(tt, op->fd) : K_UNKNOWN;
    case RF_COMM:
    case RF_EXE: {
        PyObject *subject;
        int r = test_subject(self, tt->whose, tt->n, thread, &subject);
        if (r != 0)
            return r < 0 ? -1 : K_UNKNOWN;
        PyObject *v = subject ? SLOT(subject, tt->field == RF_COMM ? self->off_comm
                                                                   : self->off_exe) : NULL;
        if (v == NULL || v == Py_None)
            return K_FALSE;   /* no value: every comparison is false (exists too) */
        if (!PyUnicode_CheckExact(v))
            return K_UNKNOWN;
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (s == NULL) {     /* surrogates (undecodable bytes): Python says */
            PyErr_Clear();
            return K_UNKNOWN;
        }
        return str_test(tt, s, n, v, PyUnicode_IS_ASCII(v));
    }
    default: {   /* the fd the open adds (and evt.res, SUCCESS then) */
        if (!op->adds)
            return K_UNKNOWN;
        const char *s;
        Py_ssize_t n;
        PyObject **obj;
        if (!fd_text(op, tt->field, &s, &n, &obj))
            return K_FALSE;
        PyObject *o = NULL;
        if (tt->op == OP_IN) {
            if (obj == NULL) {
                o = PyUnicode_DecodeASCII(s, n, NULL);
                if (o == NULL)
                    return -1;
                int r = PySet_Contains(tt->value, o);
                Py_DECREF(o);
                return r;
            }
            if (*obj == NULL && (*obj = PyUnicode_DecodeASCII(s, n, NULL)) == NULL)
                return -1;
            o = *obj;
        }
        return str_test(tt, s, n, o, 1);
    }
    }
}

/* Node i in Kleene logic: K_* or -1; AND stops at a FALSE, OR at a TRUE */
static int
eval(Printer *self, Py_ssize_t i, uint64_t num, PyObject *thread)
{
    struct RuleSet *rs = self->rules;
    int kind = rs->nodes[3 * i], arg = rs->nodes[3 * i + 1];
    switch (kind) {
    case N_CONST:
        return arg;
    case N_TEST: {
        if (rs->memo_gen[arg] == rs->gen)
            return rs->memo[arg];
        int r = run_test(self, &rs->tests[arg], num, thread);
        if (r < 0)
            return -1;
        rs->memo[arg] = (unsigned char)r;
        rs->memo_gen[arg] = rs->gen;
        return r;
    }
    case N_NOT: {
        int r = eval(self, i + 1, num, thread);
        return r < 0 ? -1 : r == K_UNKNOWN ? K_UNKNOWN : !r;
    }
    default: {   /* N_AND, N_OR */
        int stop = kind == N_AND ? K_FALSE : K_TRUE, res = !stop;
        Py_ssize_t j = i + 1;
        for (int k = 0; k < arg; k++) {
            int r = eval(self, j, num, thread);
            if (r < 0 || r == stop)
                return r;
            if (r == K_UNKNOWN)
                res = K_UNKNOWN;
            j += rs->nodes[3 * j + 2];
        }
        return res;
    }
    }
}

/* Whether Python must see this open exit: 0 when every rule of its type is FALSE on
 * it (the prepared parse gives its fd), 1 otherwise, -1 on error */
int
rules_decide(Printer *self, const unsigned char *blk, uint64_t num, PyObject *thread)
{
    struct RuleSet *rs = self->rules;
    uint16_t t = rd16(blk + 30);
    if (!rules_has(self, t) || self->open == NULL)
        return 1;
    unsigned char parser = self->parsers_tab ? self->parsers_tab[t] : 0;
    rs->opened = parser >= P_OPEN && parser <= P_OPENAT2;
    if (rs->opened && (!self->open->ready || !self->open->adds))
        return 1;
    rs->blk = blk;
    rs->gen++;
    int r = eval(self, rs->root[t], num, thread);
    rs->blk = NULL;
    return r < 0 ? -1 : r != K_FALSE;
}

/* Printer.decide(block, num) -> None | 0 | 1 | 2, for the tests: the Kleene value of
 * the rules program of the event in ``block`` (a v2 event block: block header, cpu,
 * event), evaluated on the state as it is (the state must not have seen the event
 * yet); None when C would hand the event to Python undecided (no program for its type,
 * an unknown thread, a parse C declines, no fd added). Changes nothing. */
PyObject *
Printer_decide(Printer *self, PyObject *args)
{
    Py_buffer buf;
    unsigned long long num;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*K", &buf, &num))
        return NULL;
    const unsigned char *blk = buf.buf;
    if (buf.len < 36 || 10 + (Py_ssize_t)rd32(blk + 26) > buf.len) {
        PyErr_SetString(PyExc_ValueError, "not a whole event block");
        goto out;
    }
    uint16_t t = rd16(blk + 30);
    if (!rules_has(self, t) || self->parsers_tab == NULL) {
        result = Py_NewRef(Py_None);
        goto out;
    }
    PyObject *thread = find_thread(self, (int64_t)rd64(blk + 18));
    if (thread == NULL && PyErr_Occurred())
        goto out;
    if (thread == NULL || Py_TYPE(thread) != self->thread_type) {
        result = Py_NewRef(Py_None);
        goto out;
    }
    unsigned char parser = self->parsers_tab[t];
    int opened = parser >= P_OPEN && parser <= P_OPENAT2;
    int r = opened ? open_prepare(self, blk, thread, parser) : 1;
    if (r < 0)
        goto out;
    if (r == 0 || (opened && !self->open->adds)) {
        open_release(self);
        result = Py_NewRef(Py_None);
        goto out;
    }
    self->rules->gen++;
    self->rules->opened = opened;
    self->rules->blk = blk;
    r = eval(self, self->rules->root[t], num, thread);
    self->rules->blk = NULL;
    open_release(self);
    if (r >= 0)
        result = PyLong_FromLong(r);
out:
    PyBuffer_Release(&buf);
    return result;
}
