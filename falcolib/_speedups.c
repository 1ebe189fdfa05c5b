/*
 * falcolib._speedups: the two per-event loops of a capture replay that Python
 * cannot make fast enough, written in C. Both walk the same framing the Python
 * fast path of falcolib/scap/reader.py walks (an EV_BLOCK_TYPE_V2 block with
 * a 26-byte event header) and stop, without consuming it, at the first event
 * they are not meant to handle, so the Python path stays the one authority for
 * everything unusual (other block types, truncation, errors, state changes).
 *
 *  skip(buf, pos, end, wanted, max_type) -> (pos, count)
 *      Steps over the events whose type is not marked in ``wanted`` (one byte
 *      per type). Used when a consumer asked for some event types only.
 *
 *  Printer(actions, plan, require_all, type_names, syscall_names, threads,
 *          thread_type, escape)
 *      .run(buf, pos, end, num) -> (pos, num) formats the events whose action
 *      is SHOW with a format made only of fields the event header and the
 *      thread table answer (falcolib.outputs.format.Formatter.plan()), skips
 *      those whose action is SKIP, and stops at any other (ACTION_PYTHON) or
 *      whenever a value needs Python (a string that is not plain UTF-8, an
 *      unknown thread on an event whose parsing would create it, ...).
 *      Lines are kept in an internal buffer: .write(bytes) appends the lines
 *      Python printed itself in between, .take() returns and clears it.
 *      With a state, it also applies the state's bookkeeping and the parsers it
 *      runs itself (close, read/write, and the open* exits of _speedups_open.c)
 *      to the events Python is not handed, and, with ``rules``, keeps from Python
 *      the open* exits every rule is FALSE on (_speedups_rules.c).
 *
 * Nothing here parses attacker-controlled strings beyond copying them: the
 * strings come from Python str objects already decoded by falcolib (the open*
 * parser copies paths from the events, into bounded buffers).
 */
#include "_speedups.h"

enum {
    F_LITERAL = 0, F_EVT_NUM, F_EVT_RAWTIME, F_EVT_CPU, F_EVT_DIR, F_EVT_TYPE,
    F_THREAD_TID, F_PROC_NAME, F_PROC_PID, F_PROC_EXE, F_COUNT
};
static const char *FIELD_NAMES[F_COUNT] = {
    "", "evt.num", "evt.rawtime", "evt.cpu", "evt.dir", "evt.type",
    "thread.tid", "proc.name", "proc.pid", "proc.exe",
};

/* The checks of the Python fast path: a v2 event block wholly inside the buffer
 * whose event fits it, of a type below max_type. */
static inline int framed(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end,
                         unsigned max_type, uint32_t *blen, uint16_t *etype)
{
    if (pos + FAST_SIZE > end)
        return 0;
    const unsigned char *p = b + pos;
    uint32_t bt = rd32(p), bl = rd32(p + 4), elen = rd32(p + 26);
    uint16_t t = rd16(p + 30);
    if (bt != EV_BLOCK_TYPE_V2 || pos + (Py_ssize_t)bl > end)
        return 0;
    if (elen < 26 || bl < 14 || elen > bl - 14 || bl - 14 > EVENT_CAP || t >= max_type)
        return 0;
    *blen = bl;
    *etype = t;
    return 1;
}

static PyObject *
speed_skip(PyObject *self, PyObject *args)
{
    Py_buffer buf, wanted;
    Py_ssize_t pos, end;
    unsigned int max_type;
    if (!PyArg_ParseTuple(args, "y*nny*I", &buf, &pos, &end, &wanted, &max_type))
        return NULL;
    if (end > buf.len)
        end = buf.len;
    if ((Py_ssize_t)max_type > wanted.len)
        max_type = (unsigned int)wanted.len;
    const unsigned char *b = buf.buf, *w = wanted.buf;
    Py_ssize_t count = 0;
    uint32_t bl;
    uint16_t t;
    while (pos >= 0 && framed(b, pos, end, max_type, &bl, &t) && !w[t]) {
        pos += bl;
        count++;
    }
    PyBuffer_Release(&buf);
    PyBuffer_Release(&wanted);
    return Py_BuildValue("nn", pos, count);
}

/* spans(buf, base, end, n, large) -> [(pos, len), ...]: where each of an event's n
 * parameters lies, from its length array at ``base`` (u16 each, u32 when large); a
 * parameter running past ``end`` (a truncated event) keeps what fits. [] when the
 * length array itself does not fit. What falcolib.decode.event.Event._load computes. */
static PyObject *
speed_spans(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t base, end, n;
    int large;
    if (!PyArg_ParseTuple(args, "y*nnnp", &buf, &base, &end, &n, &large))
        return NULL;
    Py_ssize_t width = large ? 4 : 2;
    PyObject *out = NULL;
    if (end > buf.len)
        end = buf.len;
    if (n <= 0 || base < 0 || base + n * width > end) {
        out = PyList_New(0);
        goto done;
    }
    out = PyList_New(n);
    if (out == NULL)
        goto done;
    const unsigned char *b = buf.buf;
    Py_ssize_t pos = base + n * width;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t ln = large ? (Py_ssize_t)rd32(b + base + 4 * i) : rd16(b + base + 2 * i);
        Py_ssize_t at = pos, keep = ln;
        if (pos + ln > end) {
            keep = end - pos > 0 ? end - pos : 0;
            pos = end;
        } else {
            pos += ln;
        }
        PyObject *item = Py_BuildValue("(nn)", at, keep);
        if (item == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, i, item);
    }
done:
    PyBuffer_Release(&buf);
    return out;
}

/* ------------------------------------------------------------------ Printer */

int
member_offset(PyTypeObject *type, const char *name, Py_ssize_t *off)
{
    PyObject *d = PyObject_GetAttrString((PyObject *)type, name);
    if (d == NULL)
        return -1;
    if (!Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        Py_DECREF(d);
        PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX) {
        Py_DECREF(d);
        PyErr_Format(PyExc_TypeError, "%s.%s is not an object slot", type->tp_name, name);
        return -1;
    }
    *off = m->offset;
    Py_DECREF(d);
    return 0;
}

static void
Printer_dealloc(Printer *self)
{
    for (Py_ssize_t i = 0; i < self->nparts; i++)
        Py_XDECREF(self->literals ? self->literals[i] : NULL);
    PyMem_Free(self->literals);
    PyMem_Free(self->kinds);
    PyMem_Free(self->actions);
    PyMem_Free(self->out);
    PyMem_Free(self->kinds_tab);
    PyMem_Free(self->flags_tab);
    Py_XDECREF(self->state);
    Py_XDECREF(self->fd_type);
    for (Py_ssize_t i = 0; i < self->ntests; i++)
        Py_XDECREF(self->tests[i].set);
    PyMem_Free(self->parsers_tab);
    open_free(self);
    rules_free(self);
    Py_XDECREF(self->remove_fd_later);
    Py_XDECREF(self->remove_thread_later);
    Py_XDECREF(self->keep);
    Py_XDECREF(self->raw_type);
    Py_XDECREF(self->kept_event_type);
    Py_XDECREF(self->key);
    Py_XDECREF(self->flush_pending);
    Py_XDECREF(self->type_names);
    Py_XDECREF(self->syscall_names);
    Py_XDECREF(self->threads);
    Py_XDECREF(self->thread_type);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
copy_table(PyObject *obj, Py_ssize_t n, unsigned char **out)
{
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0)
        return -1;
    if (b.len < n) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_ValueError, "a per-type table is shorter than the actions");
        return -1;
    }
    *out = PyMem_Malloc(n ? n : 1);
    if (*out == NULL) {
        PyBuffer_Release(&b);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(*out, b.buf, n);
    PyBuffer_Release(&b);
    return 0;
}

/* The state's tables and the slots the bookkeeping writes */
static int
init_state(Printer *self, PyObject *state, PyObject *kinds, PyObject *flags, PyObject *fd_type)
{
    if (!PyDict_Check(self->threads) || !PyType_Check((PyObject *)self->thread_type) ||
        !PyType_Check(fd_type)) {
        PyErr_SetString(PyExc_TypeError, "state bookkeeping needs threads, thread_type, fd_type");
        return -1;
    }
    if (copy_table(kinds, self->nactions, &self->kinds_tab) < 0 ||
        copy_table(flags, self->nactions, &self->flags_tab) < 0)
        return -1;
    PyTypeObject *tt = self->thread_type, *ft = (PyTypeObject *)fd_type;
    if (member_offset(tt, "comm", &self->off_comm) < 0 ||
        member_offset(tt, "pid", &self->off_pid) < 0 ||
        member_offset(tt, "exe", &self->off_exe) < 0 ||
        member_offset(tt, "flags", &self->off_flags) < 0 ||
        member_offset(tt, "lastevent_type", &self->off_ltype) < 0 ||
        member_offset(tt, "latency", &self->off_latency) < 0 ||
        member_offset(tt, "last_enter_ts", &self->off_enter_ts) < 0 ||
        member_offset(tt, "lastevent_fd", &self->off_lfd) < 0 ||
        member_offset(tt, "lastevent_valid", &self->off_lvalid) < 0 ||
        member_offset(tt, "lastevent", &self->off_lev) < 0 ||
        member_offset(tt, "fds", &self->off_fds) < 0 ||
        member_offset(ft, "name", &self->off_fd_name) < 0 ||
        member_offset(ft, "oldname", &self->off_fd_oldname) < 0)
        return -1;
    Py_INCREF(state);
    self->state = state;
    Py_INCREF(fd_type);
    self->fd_type = ft;
    return 0;
}

/* parsers: one byte per type (1 close enter, 2 close exit, 3 a read/write exit whose
 * parser only marks sockets connected, 4-8 open* exits: _speedups_open.c, 9 sendto's
 * enter on a known fd: nothing, 10 connect's enter: an IPv4 destination, 11 a thread's
 * exit: closed, removed at the next event, 12-15 pipe, getrlimit/setrlimit, fcntl and
 * socket exits: _speedups_open.c, 16 recvfrom/recvmsg/sendto/sendmsg exits on a named
 * IPv4 TCP socket, or failed: 3's work); fd_flags:
 * the FdInfo flag values (close in progress, close canceled), the parked fd number, the
 * two ip socket types and, optionally, the connected, pending and failed flags (without
 * them, reads and writes on ip sockets go to Python) and the thread's closed flag
 * (without it, thread exits go to Python) */
static int
init_parsers(Printer *self, PyObject *parsers, PyObject *fd_flags)
{
    if (self->state == NULL) {
        PyErr_SetString(PyExc_TypeError, "parsers need the state");
        return -1;
    }
    if (!PyArg_ParseTuple(fd_flags, "LLLLL|LLLL", &self->fl_in_progress, &self->fl_canceled,
                          &self->canceled_fd, &self->sock4, &self->sock6, &self->fl_connected,
                          &self->fl_pending, &self->fl_failed, &self->cl_closed))
        return -1;
    if (copy_table(parsers, self->nactions, &self->parsers_tab) < 0 ||
        member_offset(self->fd_type, "flags", &self->off_fd_flags) < 0 ||
        member_offset(self->fd_type, "type", &self->off_fd_type) < 0 ||
        member_offset(self->fd_type, "dip", &self->off_fd_dip) < 0 ||
        member_offset(self->fd_type, "dport", &self->off_fd_dport) < 0)
        return -1;
    self->remove_fd_later = PyObject_GetAttrString(self->state, "remove_fd_later");
    self->flush_pending = PyObject_GetAttrString(self->state, "flush_pending");
    self->remove_thread_later = PyObject_GetAttrString(self->state, "remove_thread_later");
    return self->remove_fd_later && self->flush_pending && self->remove_thread_later ? 0 : -1;
}

/* checks: [[(attr, whose, n, frozenset), ...], ...]: clauses that must all hold, each
 * true when one of its tests is. A test reads thread attribute ``attr`` ("comm" or
 * "exe") of: the thread (whose 0), its parent by ptid (1: proc.pname/pexe), or the
 * n-th ancestor of its main thread (2: proc.aname[n]/aexe[n]), and is true when that
 * value is in the set. */
static int
init_checks(Printer *self, PyObject *checks)
{
    if (self->state == NULL) {
        PyErr_SetString(PyExc_TypeError, "checks need the state");
        return -1;
    }
    if (member_offset(self->thread_type, "ptid", &self->off_ptid) < 0 ||
        member_offset(self->thread_type, "tid", &self->off_tid) < 0)
        return -1;
    PyObject *clauses = PySequence_Fast(checks, "checks must be a sequence");
    if (clauses == NULL)
        return -1;
    int rc = -1;
    for (Py_ssize_t c = 0; c < PySequence_Fast_GET_SIZE(clauses); c++) {
        PyObject *tests = PySequence_Fast(PySequence_Fast_GET_ITEM(clauses, c),
                                          "a clause must be a sequence");
        if (tests == NULL)
            goto out;
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(tests); i++) {
            const char *attr;
            int whose, n;
            PyObject *values;
            if (self->ntests >= MAX_TESTS) {
                PyErr_SetString(PyExc_ValueError, "too many checks");
                Py_DECREF(tests);
                goto out;
            }
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(tests, i), "siiO!", &attr, &whose,
                                  &n, &PyFrozenSet_Type, &values)) {
                Py_DECREF(tests);
                goto out;
            }
            Py_ssize_t off = 0;
            int fdname = strcmp(attr, "fd.name") == 0;
            if (strcmp(attr, "comm") == 0)
                off = self->off_comm;
            else if (strcmp(attr, "exe") == 0)
                off = self->off_exe;
            else if (!fdname || whose < FD_IN || whose > FD_CONTAINS ||
                     (whose != FD_IN && PySet_GET_SIZE(values) != 1)) {
                PyErr_Format(PyExc_ValueError, "no check on %s", attr);
                Py_DECREF(tests);
                goto out;
            }
            Test *tt = &self->tests[self->ntests++];
            memset(tt, 0, sizeof *tt);
            tt->off = off;
            tt->whose = whose;
            tt->n = n;
            tt->clause = (int)c;
            tt->fdname = fdname;
            Py_INCREF(values);
            tt->set = values;
            if (fdname && whose != FD_IN) {
                Py_ssize_t pos = 0;
                Py_hash_t h;
                PyObject *v;
                _PySet_NextEntry(values, &pos, &v, &h);
                tt->pat = PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &tt->patlen) : NULL;
                if (tt->pat == NULL) {
                    if (!PyErr_Occurred())
                        PyErr_SetString(PyExc_TypeError, "an fd.name pattern is a str");
                    Py_DECREF(tests);
                    goto out;
                }
            }
        }
        Py_DECREF(tests);
        self->nclauses = (int)c + 1;
    }
    rc = 0;
out:
    Py_DECREF(clauses);
    return rc;
}

static inline PyObject *
thread_by_tid(Printer *self, PyObject *tid)   /* borrowed, NULL if none (error set or not) */
{
    return tid ? PyDict_GetItemWithError(self->threads, tid) : NULL;
}

/* The thread a test reads (borrowed) or NULL (no value); *decline when finding it would
 * make a placeholder (Python must do that), -1 on error */
int
test_subject(Printer *self, int whose, int n, PyObject *thread, PyObject **out)
{
    *out = NULL;
    if (thread == NULL)
        return 0;
    if (whose == 0) {
        *out = thread;
        return 0;
    }
    if (whose == 1) {
        PyObject *p = thread_by_tid(self, SLOT(thread, self->off_ptid));
        if (p == NULL && PyErr_Occurred())
            return -1;
        *out = (p != NULL && Py_TYPE(p) == self->thread_type) ? p : NULL;
        return p != NULL && *out == NULL ? 1 : 0;
    }
    /* the main thread, as fields/proc.main_of: itself when tid == pid or flagged main */
    long long tid, pid, flags;
    if (!slot_ll(thread, self->off_tid, &tid) || !slot_ll(thread, self->off_pid, &pid) ||
        !slot_ll(thread, self->off_flags, &flags))
        return 1;
    PyObject *mt = thread;
    if (tid != pid && !(flags & (1LL << 30))) {
        mt = thread_by_tid(self, SLOT(thread, self->off_pid));
        if (mt == NULL)
            return PyErr_Occurred() ? -1 : 1;   /* State.main_thread would make it */
        if (Py_TYPE(mt) != self->thread_type)
            return 1;
    }
    for (int k = 0; k < n && mt != NULL; k++) {
        mt = thread_by_tid(self, SLOT(mt, self->off_ptid));
        if (mt == NULL && PyErr_Occurred())
            return -1;
        if (mt != NULL && Py_TYPE(mt) != self->thread_type)
            return 1;
    }
    *out = mt;
    return 0;
}

/* C fnmatch with flags 0 for a pattern without '[' or '\\': '*' any run of
 * characters ('/' included), '?' any one, the rest itself */
int
wildcard(const char *p, Py_ssize_t pn, const char *s, Py_ssize_t sn)
{
    Py_ssize_t pi = 0, si = 0, star = -1, mark = 0;
    while (si < sn) {
        if (pi < pn && (p[pi] == '?' || p[pi] == s[si])) {
            pi++;
            si++;
        } else if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star >= 0) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

/* fd.name of the event at blk as fields/fd.get_fd and _name would find it, before any
 * bookkeeping: the fd the enter names, or the thread's last fd for an exit. 1 with
 * *name (borrowed str, plain printable ASCII), 0 no value, 2 Python must say. */
static int
fd_name_now(Printer *self, const unsigned char *blk, PyObject *thread, PyObject **name)
{
    const unsigned char *ev = blk + 10;
    uint32_t elen = rd32(ev + 16);
    uint16_t t = rd16(ev + 20);
    uint32_t nparams = rd32(ev + 22);
    unsigned char kind = self->kinds_tab[t], fl = self->flags_tab[t];
    *name = NULL;
    if (!(fl & FL_FD_EVENT))
        return 0;
    if (thread == NULL || (fl & FL_NAME_CREATOR))
        return thread == NULL ? 0 : 2;
    long long fdnum;
    if (kind == 1 || kind == 4) {
        if (!(fl & 1))
            return 0;   /* an enter before its fd exists: no name (enters have no creator) */
        Py_ssize_t vals = 26 + 2 * (Py_ssize_t)nparams;
        if (nparams == 0 || vals + 8 > (Py_ssize_t)elen || rd16(ev + 26) != 8)
            return 2;
        fdnum = (int64_t)rd64(ev + vals);
    } else if (kind == 2) {
        if (!slot_ll(thread, self->off_lfd, &fdnum))
            return 2;
        if (fdnum == -1)
            return 2;   /* no fd: fd.name would come from the event (the creator) */
    } else {
        return 2;
    }
    PyObject *fd;
    int r = lookup_fd(self, thread, fdnum, &fd);
    if (r <= 0)
        return r < 0 ? -1 : 2;
    if (fd == NULL)
        return (kind == 2) ? 2 : 0;
    PyObject *v = SLOT(fd, self->off_fd_name);
    if (v == NULL || !PyUnicode_Check(v) || !PyUnicode_IS_ASCII(v))
        return 2;
    const char *u = (const char *)PyUnicode_1BYTE_DATA(v);
    if (!plain_ascii(u, PyUnicode_GET_LENGTH(v)))
        return 2;   /* sanitized by erase_invalid: Python says */
    *name = v;
    return 1;
}

static int
fd_test(Printer *self, Test *tt, const unsigned char *blk, PyObject *thread)
{
    PyObject *v;
    int r = fd_name_now(self, blk, thread, &v);
    if (r != 1)
        return r == 0 ? 0 : (r < 0 ? -1 : 2);
    const char *s = (const char *)PyUnicode_1BYTE_DATA(v);
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    switch (tt->whose) {
    case FD_IN:
        return PySet_Contains(tt->set, v);
    case FD_PREFIX:
        return n >= tt->patlen && memcmp(s, tt->pat, tt->patlen) == 0;
    case FD_GLOB:
        return wildcard(tt->pat, tt->patlen, s, n);
    default:
        if (tt->patlen == 0)
            return 1;
        for (Py_ssize_t i = 0; i + tt->patlen <= n; i++)
            if (memcmp(s + i, tt->pat, tt->patlen) == 0)
                return 1;
        return 0;
    }
}

/* 1 when every clause holds, 0 when one fails, 2 when Python must decide, -1 error */
static int
checks_pass(Printer *self, const unsigned char *blk, PyObject *thread)
{
    int clause = -1, held = 1;
    for (Py_ssize_t i = 0; i < self->ntests; i++) {
        Test *tt = &self->tests[i];
        if (tt->clause != clause) {
            if (!held)
                return 0;
            clause = tt->clause;
            held = 0;
        }
        if (held)
            continue;
        if (tt->fdname) {
            int r = fd_test(self, tt, blk, thread);
            if (r < 0 || r == 2)
                return r;
            held = r;
            continue;
        }
        PyObject *subject;
        int r = test_subject(self, tt->whose, tt->n, thread, &subject);
        if (r != 0)
            return r < 0 ? -1 : 2;
        PyObject *v = subject ? SLOT(subject, tt->off) : NULL;
        if (v == NULL || v == Py_None)
            continue;
        r = PySet_Contains(tt->set, v);
        if (r < 0)
            return -1;
        held = r;
    }
    return held;
}

static int
Printer_init(Printer *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"actions", "plan", "require_all", "type_names", "syscall_names",
                             "threads", "thread_type", "escape", "state", "kinds", "flags",
                             "fd_type", "checks", "parsers", "fd_flags", "keep", "open",
                             "rules", "kept_types", NULL};
    Py_buffer actions;
    PyObject *plan, *type_names, *syscall_names, *threads, *thread_type;
    PyObject *state = Py_None, *kinds = Py_None, *flags = Py_None, *fd_type = Py_None;
    PyObject *checks = Py_None, *parsers = Py_None, *fd_flags = Py_None, *keep = Py_None;
    PyObject *open = Py_None, *rules = Py_None, *kept_types = Py_None;
    int require_all, escape;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*OpO!O!OOp|OOOOOOOOOOO", kwlist, &actions, &plan,
                                     &require_all, &PyTuple_Type, &type_names,
                                     &PyTuple_Type, &syscall_names, &threads, &thread_type,
                                     &escape, &state, &kinds, &flags, &fd_type, &checks,
                                     &parsers, &fd_flags, &keep, &open, &rules,
                                     &kept_types))
        return -1;
    if (self->actions != NULL) {
        PyBuffer_Release(&actions);
        PyErr_SetString(PyExc_TypeError, "Printer is initialised once");
        return -1;
    }
    self->actions = PyMem_Malloc(actions.len ? actions.len : 1);
    if (self->actions == NULL) {
        PyBuffer_Release(&actions);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(self->actions, actions.buf, actions.len);
    self->nactions = actions.len;
    PyBuffer_Release(&actions);
    self->require_all = require_all;
    self->escape = escape;

    PyObject *seq = PySequence_Fast(plan, "plan must be a sequence");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    self->kinds = PyMem_Calloc(n ? n : 1, sizeof(int));
    self->literals = PyMem_Calloc(n ? n : 1, sizeof(PyObject *));
    if (self->kinds == NULL || self->literals == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    self->nparts = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* each part: ("text", bytes) or ("field", name) */
        PyObject *part = PySequence_Fast_GET_ITEM(seq, i);
        const char *what;
        PyObject *val;
        if (!PyArg_ParseTuple(part, "sO", &what, &val)) {
            Py_DECREF(seq);
            return -1;
        }
        if (strcmp(what, "text") == 0) {
            if (!PyBytes_Check(val)) {
                Py_DECREF(seq);
                PyErr_SetString(PyExc_TypeError, "text parts are bytes");
                return -1;
            }
            self->kinds[i] = F_LITERAL;
            Py_INCREF(val);
            self->literals[i] = val;
            continue;
        }
        const char *name = PyUnicode_Check(val) ? PyUnicode_AsUTF8(val) : NULL;
        int code = -1;
        for (int f = 1; name != NULL && f < F_COUNT; f++)
            if (strcmp(name, FIELD_NAMES[f]) == 0)
                code = f;
        if (code < 0) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_ValueError, "field %R cannot be printed here", val);
            return -1;
        }
        self->kinds[i] = code;
        if (code >= F_PROC_NAME)
            self->uses_thread = 1;
    }
    Py_DECREF(seq);
    Py_INCREF(type_names);
    self->type_names = type_names;
    Py_INCREF(syscall_names);
    self->syscall_names = syscall_names;
    Py_INCREF(threads);
    self->threads = threads;
    if (self->uses_thread) {
        if (!PyDict_Check(threads) || !PyType_Check(thread_type)) {
            PyErr_SetString(PyExc_TypeError, "thread fields need a threads dict and its type");
            return -1;
        }
        if (member_offset((PyTypeObject *)thread_type, "comm", &self->off_comm) < 0 ||
            member_offset((PyTypeObject *)thread_type, "pid", &self->off_pid) < 0 ||
            member_offset((PyTypeObject *)thread_type, "exe", &self->off_exe) < 0)
            return -1;
    }
    Py_INCREF(thread_type);
    self->thread_type = (PyTypeObject *)thread_type;
    if (state != Py_None && init_state(self, state, kinds, flags, fd_type) < 0)
        return -1;
    if (state != Py_None) {
        if (!PyCallable_Check(keep)) {
            PyErr_SetString(PyExc_TypeError, "the state bookkeeping needs keep()");
            return -1;
        }
        Py_INCREF(keep);
        self->keep = keep;
        if (kept_types != Py_None) {
            PyObject *rt, *et;
            if (!PyArg_ParseTuple(kept_types, "O!O!", &PyType_Type, &rt, &PyType_Type, &et))
                return -1;
            if (!PyType_IsSubtype((PyTypeObject *)rt, &PyTuple_Type)) {
                PyErr_SetString(PyExc_TypeError, "kept_types: RawEvent is a tuple type");
                return -1;
            }
            Py_INCREF(rt);
            self->raw_type = (PyTypeObject *)rt;
            Py_INCREF(et);
            self->kept_event_type = et;
        }
    }
    if (checks != Py_None && init_checks(self, checks) < 0)
        return -1;
    if (parsers != Py_None && init_parsers(self, parsers, fd_flags) < 0)
        return -1;
    if (open != Py_None) {
        if (self->parsers_tab == NULL) {
            PyErr_SetString(PyExc_TypeError, "the open parser needs the parsers");
            return -1;
        }
        if (open_init(self, open) < 0)
            return -1;
    }
    if (rules != Py_None && rules_init(self, rules) < 0)
        return -1;
    return 0;
}

static int
out_reserve(Printer *self, Py_ssize_t more)
{
    if (self->out_len + more <= self->out_cap)
        return 0;
    Py_ssize_t cap = self->out_cap ? self->out_cap : 1 << 16;
    while (cap < self->out_len + more)
        cap *= 2;
    char *p = PyMem_Realloc(self->out, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->out = p;
    self->out_cap = cap;
    return 0;
}

static inline int
out_put(Printer *self, const char *s, Py_ssize_t n)
{
    if (out_reserve(self, n) < 0)
        return -1;
    memcpy(self->out + self->out_len, s, n);
    self->out_len += n;
    return 0;
}

static inline int
out_u64(Printer *self, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return out_put(self, tmp + i, 24 - i);
}

static inline int
out_i64(Printer *self, int64_t v)
{
    if (v < 0) {
        if (out_put(self, "-", 1) < 0)
            return -1;
        return out_u64(self, (uint64_t)0 - (uint64_t)v);
    }
    return out_u64(self, (uint64_t)v);
}

/* 1: all bytes printable ASCII; used in escape mode, where Python decides the rest */
int
plain_ascii(const char *s, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            return 0;
    }
    return 1;
}

/* 1 written, 0 needs Python, -1 error */
static int
put_str(Printer *self, PyObject *s)
{
    if (!PyUnicode_Check(s))
        return 0;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {      /* surrogates from undecodable bytes: Python prints those */
        PyErr_Clear();
        return 0;
    }
    if (self->escape && !plain_ascii(u, n))
        return 0;
    return out_put(self, u, n) < 0 ? -1 : 1;
}

static int
put_bytes_obj(Printer *self, PyObject *b)
{
    if (!PyBytes_Check(b))
        return 0;
    const char *s = PyBytes_AS_STRING(b);
    Py_ssize_t n = PyBytes_GET_SIZE(b);
    if (self->escape && !plain_ascii(s, n))
        return 0;
    return out_put(self, s, n) < 0 ? -1 : 1;
}

/* evt.type: the table's name, the syscall's for generic events (their first
 * parameter, a 2-byte syscall id). 1 written, 0 needs Python, -1 error. */
static int
put_type(Printer *self, const unsigned char *ev, uint32_t elen, uint16_t t, uint32_t nparams)
{
    if (t <= 1) {
        Py_ssize_t base = 26;
        if (nparams == 0 || base + 2 * (Py_ssize_t)nparams + 2 > (Py_ssize_t)elen ||
            rd16(ev + base) != 2)
            return 0;
        uint16_t sc = rd16(ev + base + 2 * nparams);
        if (sc < PyTuple_GET_SIZE(self->syscall_names))
            return put_bytes_obj(self, PyTuple_GET_ITEM(self->syscall_names, sc));
    }
    if (t >= PyTuple_GET_SIZE(self->type_names))
        return 0;
    return put_bytes_obj(self, PyTuple_GET_ITEM(self->type_names, t));
}

/* ----------------------------------------------------- state bookkeeping */

#define CL_ACTIVE (1LL << 19)

/* The fd object ``fdnum`` of thread ``th`` (borrowed; NULL if none); 0 on a table
 * Python must handle, -1 on error, 1 otherwise */
int
lookup_fd(Printer *self, PyObject *th, long long fdnum, PyObject **fd)
{
    *fd = NULL;
    PyObject *fds = SLOT(th, self->off_fds);
    if (fds == NULL || !PyDict_CheckExact(fds))
        return 0;
    PyObject *key = PyLong_FromLongLong(fdnum);
    if (key == NULL)
        return -1;
    PyObject *f = PyDict_GetItemWithError(fds, key);
    Py_DECREF(key);
    if (f == NULL)
        return PyErr_Occurred() ? -1 : 1;
    if (Py_TYPE(f) != self->fd_type)
        return 0;
    *fd = f;
    return 1;
}

static inline int
refresh_oldname(Printer *self, PyObject *fd)
{
    PyObject *name = SLOT(fd, self->off_fd_name);
    if (name == NULL)
        return 0;
    Py_INCREF(name);
    return set_slot(fd, self->off_fd_oldname, name);
}

/* fd_parsers.parse_close_enter/exit: the fd being closed is marked; a successful close
 * removes it (or the entry parked when its number was reused meanwhile) when the next
 * event comes; a failed one clears the mark. */
static int
run_close(Printer *self, unsigned char parser, PyObject *th, PyObject *fd, long long fdflags,
          long long res, long long lfd)
{
    if (parser == 1) {
        if (fd == NULL)
            return 0;
        return set_slot(fd, self->off_fd_flags, PyLong_FromLongLong(fdflags | self->fl_in_progress));
    }
    if (res < 0) {
        if (fd == NULL)
            return 0;
        return set_slot(fd, self->off_fd_flags, PyLong_FromLongLong(fdflags & ~self->fl_in_progress));
    }
    if (fd == NULL)
        return 0;
    long long which = lfd;
    if (fdflags & self->fl_canceled) {
        if (set_slot(fd, self->off_fd_flags, PyLong_FromLongLong(fdflags & ~self->fl_canceled)) < 0)
            return -1;
        which = self->canceled_fd;
    }
    PyObject *r = PyObject_CallFunction(self->remove_fd_later, "OL", th, which);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    self->pending = 1;
    return 0;
}

/* What State.process does for an event no parser wants: enter/exit pairing, latency,
 * the fd used (and its oldname), the active flag; in sysdig's filter order, a
 * discarded event's thread forgets it. Everything is checked before anything is
 * written, so a 0 (Python must process this event) leaves no trace.
 * 1 done (*thread: the event's thread or NULL), 0 needs Python, -1 error. */
/* threads[tid] (borrowed) or NULL (an error set, or none); consecutive events of one
 * thread reuse the key object */
PyObject *
find_thread(Printer *self, int64_t tid)
{
    if (self->key == NULL || self->key_tid != tid) {
        PyObject *k = PyLong_FromLongLong(tid);
        if (k == NULL)
            return NULL;
        Py_XDECREF(self->key);
        self->key = k;
        self->key_tid = tid;
    }
    return PyDict_GetItemWithError(self->threads, self->key);
}

/* The Event State keeps of an enter for its exit (State._keep): keep(data, ts, tid, type,
 * nparams, cpu, num), or, with kept_types (RawEvent, Event), the same RawEvent tuple
 * made here and given to Event. A new reference, NULL on error. */
static PyObject *
kept_event(Printer *self, const unsigned char *blk, unsigned long long num)
{
    const unsigned char *ev = blk + 10;
    uint32_t elen = rd32(ev + 16);
    unsigned long long ts = rd64(ev), tid = rd64(ev + 8);
    uint16_t t = rd16(ev + 20), cpu = rd16(blk + 8);
    uint32_t nparams = rd32(ev + 22);
    if (self->raw_type == NULL)
        return PyObject_CallFunction(self->keep, "y#KKHIHK", (const char *)ev, (Py_ssize_t)elen,
                                     ts, tid, t, nparams, cpu, num);
    /* RawEvent(ts, tid, type, nparams, cpu, buf, off, size, hdr, flags, num) */
    PyObject *vals = Py_BuildValue("((KKHIHy#nIiiK))", ts, tid, t, nparams, cpu,
                                   (const char *)ev, (Py_ssize_t)elen, (Py_ssize_t)0, elen,
                                   26, 0, num);
    if (vals == NULL)
        return NULL;
    PyObject *raw = PyTuple_Type.tp_new(self->raw_type, vals, NULL);
    Py_DECREF(vals);
    if (raw == NULL)
        return NULL;
    PyObject *evt = PyObject_CallOneArg(self->kept_event_type, raw);
    Py_DECREF(raw);
    return evt;
}

/* ``known``: the thread peek_thread found for this event (have_known), saving a lookup */
static int
bookkeep(Printer *self, const unsigned char *blk, unsigned long long num, PyObject *known,
         int have_known, PyObject **thread)
{
    const unsigned char *ev = blk + 10;
    uint64_t ts = rd64(ev);
    int64_t tid = (int64_t)rd64(ev + 8);
    uint32_t elen = rd32(ev + 16);
    uint16_t t = rd16(ev + 20);
    uint32_t nparams = rd32(ev + 22);
    unsigned char kind = self->kinds_tab[t], fl = self->flags_tab[t];
    *thread = NULL;
    if (kind == 3)
        return 0;
    PyObject *th = have_known ? known : find_thread(self, tid);
    if (th == NULL)
        return PyErr_Occurred() ? -1 : (kind == 0 ? 1 : 0);   /* Python makes the placeholder */
    if (Py_TYPE(th) != self->thread_type)
        return 0;
    if (kind == 0) {
        *thread = th;
        return 1;
    }
    long long flags, ltype, enter_ts, lfd = -1;
    if (!slot_ll(th, self->off_flags, &flags) || !slot_ll(th, self->off_ltype, &ltype) ||
        !slot_ll(th, self->off_enter_ts, &enter_ts))
        return 0;
    PyObject *fd = NULL;
    int paired = 0;
    if (kind == 1 || kind == 4) {
        if (fl & 1) {
            Py_ssize_t lens = 26, vals = 26 + 2 * (Py_ssize_t)nparams;
            if (nparams == 0 || vals + 8 > (Py_ssize_t)elen || rd16(ev + lens) != 8)
                return 0;
            lfd = (int64_t)rd64(ev + vals);
            int r = lookup_fd(self, th, lfd, &fd);
            if (r <= 0)
                return r;
        }
    } else {
        paired = (long long)t == ltype + 1;
        if (paired && (fl & 1)) {
            if (!slot_ll(th, self->off_lfd, &lfd))
                return 0;
            int r = lookup_fd(self, th, lfd, &fd);
            if (r <= 0)
                return r;
        }
    }
    /* the parser run here, if any: its inputs are checked before anything changes */
    unsigned char parser = self->parsers_tab ? self->parsers_tab[t] : 0;
    long long fdflags = 0, res = 0;
    if (parser && fd != NULL && !slot_ll(fd, self->off_fd_flags, &fdflags))
        return 0;
    int connect = 0;
    if ((parser == P_RW || parser == P_SOCK_IO) && fd != NULL) {
        /* socket_parsers._rw_exit: an ip socket is marked connected (set_connected) when
         * the call succeeded (its first parameter, as rawparams.first_i64 reads it) */
        long long ftype;
        if (!slot_ll(fd, self->off_fd_type, &ftype))
            return 0;
        if (ftype == self->sock4 || ftype == self->sock6) {
            if (!self->fl_connected || nparams == 0 ||
                26 + 2 * (Py_ssize_t)nparams + 8 > (Py_ssize_t)elen || rd16(ev + 26) != 8)
                return 0;
            /* (in sysdig's filter order a rejected event is never parsed: fl & 2) */
            connect = !(fl & 2) && (int64_t)rd64(ev + 26 + 2 * (Py_ssize_t)nparams) >= 0;
        }
    }
    if (parser == P_SOCK_IO && fd != NULL && !(fl & 2)) {
        /* recvfrom/recvmsg/sendto/sendmsg exits (_rw_exit with an address): after the
         * above, a successful call names an unconnected socket from its address, unless
         * the fd is a named IPv4 TCP socket: that case only here, the others Python's */
        struct OpenParse *op = self->open;
        if (op == NULL || nparams == 0 || 26 + 2 * (Py_ssize_t)nparams + 8 > (Py_ssize_t)elen ||
            rd16(ev + 26) != 8)
            return 0;
        if ((int64_t)rd64(ev + 26 + 2 * (Py_ssize_t)nparams) >= 0) {
            long long ftype, l4;
            PyObject *name = SLOT(fd, self->off_fd_name);
            if (!slot_ll(fd, self->off_fd_type, &ftype) || ftype != self->sock4 ||
                !slot_ll(fd, op->off_fd_l4proto, &l4) || l4 != op->l4_tcp || name == NULL ||
                !PyUnicode_Check(name) || PyUnicode_GET_LENGTH(name) == 0)
                return 0;
        }
    }
    if (parser == 11 && ((fl & 2) || !self->cl_closed))
        return 0;   /* (a thread exit modifies the state: never deferred; Python would say) */
    const unsigned char *addr = NULL;   /* connect's enter: the AF_INET address it names */
    if (parser == 9 && fd == NULL && !(fl & 2))
        return 0;   /* sendto on an fd never seen: Python infers a UDP socket */
    if (parser == 10 && fd != NULL && nparams >= 2 && !(fl & 2)) {
        /* socket_parsers.parse_connect_enter: an AF_INET address sets the fd's type and
         * destination; other families (unix names, IPv6 text) are Python's */
        Py_ssize_t vals = 26 + 2 * (Py_ssize_t)nparams;
        if (vals > (Py_ssize_t)elen)
            return 0;
        Py_ssize_t l0 = rd16(ev + 26), l1 = rd16(ev + 28);
        if (vals + l0 + l1 > (Py_ssize_t)elen)
            return 0;
        if (l1 > 0) {
            addr = ev + vals + l0;
            if (addr[0] != 2 || l1 < 7)   /* PPM_AF_INET with its address and port */
                return 0;
        }
    }
    if (parser == 2) {
        if (nparams == 0 || 26 + 2 * (Py_ssize_t)nparams + 8 > (Py_ssize_t)elen ||
            rd16(ev + 26) != 8)
            return 0;
        res = (int64_t)rd64(ev + 26 + 2 * (Py_ssize_t)nparams);
    }
    if (parser >= 4 && parser <= 8) {   /* open* exits: _speedups_open.c */
        if (fl & 2)
            return 0;   /* (they modify the state: never deferred; Python would say) */
        int r = open_prepare(self, blk, th, parser);
        if (r <= 0)
            return r;
    }
    if (parser >= P_PIPE && parser <= P_SOCKET) {   /* pipe, rlimit, fcntl, socket exits */
        if (fl & 2)
            return 0;
        int r = exit_prepare(self, blk, th, fd, parser);
        if (r <= 0)
            return r;
    }
    /* (values that would not change are not written again) */
    if (!(flags & CL_ACTIVE) &&
        set_slot(th, self->off_flags, PyLong_FromLongLong(flags | CL_ACTIVE)) < 0)
        return -1;
    if (kind == 1 || kind == 4) {
        long long newtype = (fl & 2) ? -2 : (long long)t, old;
        if (newtype != ltype && set_slot(th, self->off_ltype, PyLong_FromLongLong(newtype)) < 0)
            return -1;
        if (!(slot_ll(th, self->off_latency, &old) && old == 0) &&
            set_slot(th, self->off_latency, PyLong_FromLong(0)) < 0)
            return -1;
        if (set_slot(th, self->off_enter_ts, PyLong_FromUnsignedLongLong(ts)) < 0)
            return -1;
        if (!(slot_ll(th, self->off_lfd, &old) && old == lfd) &&
            set_slot(th, self->off_lfd, PyLong_FromLongLong(lfd)) < 0)
            return -1;
        if (kind == 4) {   /* kept for its exit's parser: a copy of the event */
            if (set_slot(th, self->off_lev, kept_event(self, blk, num)) < 0)
                return -1;
            Py_INCREF(Py_True);
            if (set_slot(th, self->off_lvalid, Py_True) < 0)
                return -1;
        }
    } else {
        if (enter_ts && set_slot(th, self->off_latency,
                                 PyLong_FromLongLong((long long)ts - enter_ts)) < 0)
            return -1;
        if (!paired && SLOT(th, self->off_lvalid) != Py_False) {
            Py_INCREF(Py_False);
            if (set_slot(th, self->off_lvalid, Py_False) < 0)
                return -1;
        }
        if (SLOT(th, self->off_lev) != Py_None) {
            Py_INCREF(Py_None);
            if (set_slot(th, self->off_lev, Py_None) < 0)
                return -1;
        }
        if ((fl & 2) && set_slot(th, self->off_ltype, PyLong_FromLong(-2)) < 0)
            return -1;
    }
    if (fd != NULL && refresh_oldname(self, fd) < 0)
        return -1;
    if ((parser == 1 || parser == 2) && run_close(self, parser, th, fd, fdflags, res, lfd) < 0)
        return -1;
    if (connect) {
        long long nf = (fdflags & ~(self->fl_pending | self->fl_failed)) | self->fl_connected;
        if (nf != fdflags && set_slot(fd, self->off_fd_flags, PyLong_FromLongLong(nf)) < 0)
            return -1;
    }
    if (parser == 11) {   /* proc_parsers.parse_thread_exit: closed, removed at the next event */
        long long nf = flags | CL_ACTIVE | self->cl_closed;
        if (nf != (flags | CL_ACTIVE) && set_slot(th, self->off_flags, PyLong_FromLongLong(nf)) < 0)
            return -1;
        PyObject *r = PyObject_CallFunction(self->remove_thread_later, "L", (long long)tid);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        self->pending = 1;
    }
    if (addr != NULL) {   /* fi.type, fi.dip, fi.dport = IPv4, ip4(addr), port */
        if (set_slot(fd, self->off_fd_type, PyLong_FromLongLong(self->sock4)) < 0 ||
            set_slot(fd, self->off_fd_dip, PyUnicode_FromFormat(
                "%u.%u.%u.%u", (unsigned)addr[1], (unsigned)addr[2], (unsigned)addr[3],
                (unsigned)addr[4])) < 0 ||
            set_slot(fd, self->off_fd_dport, PyLong_FromLong(rd16(addr + 5))) < 0)
            return -1;
    }
    if (parser >= 4 && parser <= 8) {
        int r = open_commit(self, th);
        open_release(self);
        if (r < 0)
            return -1;
    }
    if (parser >= P_PIPE && parser <= P_SOCKET) {
        int r = exit_commit(self, th);
        open_release(self);
        if (r < 0)
            return -1;
    }
    *thread = th;
    return 1;
}

/* After a run: the counters State.process keeps (events, last_ts, first_ts) */
static int
sync_state(Printer *self, unsigned long long n, uint64_t first_ts)
{
    if (self->state == NULL || n == 0)
        return 0;
    PyObject *ev = PyObject_GetAttrString(self->state, "events");
    if (ev == NULL)
        return -1;
    PyObject *add = PyLong_FromUnsignedLongLong(n);
    PyObject *sum = add ? PyNumber_Add(ev, add) : NULL;
    Py_DECREF(ev);
    Py_XDECREF(add);
    if (sum == NULL)
        return -1;
    int r = PyObject_SetAttrString(self->state, "events", sum);
    Py_DECREF(sum);
    if (r < 0)
        return -1;
    PyObject *last = PyLong_FromUnsignedLongLong(self->last_ts);
    if (last == NULL)
        return -1;
    r = PyObject_SetAttrString(self->state, "last_ts", last);
    Py_DECREF(last);
    if (r < 0)
        return -1;
    PyObject *first = PyObject_GetAttrString(self->state, "first_ts");
    if (first == NULL)
        return -1;
    int unset = PyObject_Not(first);
    Py_DECREF(first);
    if (unset == 1) {
        PyObject *f = PyLong_FromUnsignedLongLong(first_ts);
        if (f == NULL)
            return -1;
        r = PyObject_SetAttrString(self->state, "first_ts", f);
        Py_DECREF(f);
        return r;
    }
    return unset < 0 ? -1 : 0;
}

/* One line for the event at ev; 1 done (maybe nothing printed), 0 needs Python, -1 error */
static int
format_event(Printer *self, const unsigned char *blk, uint64_t num, unsigned char action,
             PyObject *thread, int looked_up)
{
    const unsigned char *ev = blk + 10;
    uint16_t cpu = rd16(blk + 8);
    uint64_t ts = rd64(ev);
    int64_t tid = (int64_t)rd64(ev + 8);
    uint32_t elen = rd32(ev + 16);
    uint16_t t = rd16(ev + 20);
    uint32_t nparams = rd32(ev + 22);

    if (self->uses_thread && !looked_up) {
        PyObject *key = PyLong_FromLongLong(tid);
        if (key == NULL)
            return -1;
        thread = PyDict_GetItemWithError(self->threads, key);   /* borrowed */
        Py_DECREF(key);
        if (thread == NULL) {
            if (PyErr_Occurred())
                return -1;
            if (action & ENTER_EXIT)
                return 0;   /* Python makes sysdig's placeholder thread */
        } else if (Py_TYPE(thread) != self->thread_type) {
            return 0;
        }
    }
    Py_ssize_t start = self->out_len;
    for (Py_ssize_t i = 0; i < self->nparts; i++) {
        int r = 1;
        PyObject *v = NULL;
        switch (self->kinds[i]) {
        case F_LITERAL:
            r = out_put(self, PyBytes_AS_STRING(self->literals[i]),
                        PyBytes_GET_SIZE(self->literals[i])) < 0 ? -1 : 1;
            break;
        case F_EVT_NUM: r = out_u64(self, num) < 0 ? -1 : 1; break;
        case F_EVT_RAWTIME: r = out_u64(self, ts) < 0 ? -1 : 1; break;
        case F_EVT_CPU: r = out_u64(self, cpu) < 0 ? -1 : 1; break;
        case F_EVT_DIR: r = out_put(self, (t & 1) ? "<" : ">", 1) < 0 ? -1 : 1; break;
        case F_EVT_TYPE: r = put_type(self, ev, elen, t, nparams); break;
        case F_THREAD_TID: r = out_i64(self, tid) < 0 ? -1 : 1; break;
        case F_PROC_NAME:
        case F_PROC_PID:
        case F_PROC_EXE: {
            Py_ssize_t off = self->kinds[i] == F_PROC_NAME ? self->off_comm
                           : self->kinds[i] == F_PROC_PID ? self->off_pid : self->off_exe;
            if (thread != NULL)
                v = *(PyObject **)((char *)thread + off);
            if (v == NULL || v == Py_None) {
                if (self->require_all) {
                    self->out_len = start;   /* sysdig prints nothing for this event */
                    return 1;
                }
                r = out_put(self, "<NA>", 4) < 0 ? -1 : 1;
            } else if (self->kinds[i] == F_PROC_PID) {
                if (!PyLong_CheckExact(v)) {
                    r = 0;
                } else {
                    long long p = PyLong_AsLongLong(v);
                    if (p == -1 && PyErr_Occurred()) {
                        PyErr_Clear();
                        r = 0;
                    } else {
                        r = out_i64(self, p) < 0 ? -1 : 1;
                    }
                }
            } else {
                r = put_str(self, v);
            }
            break;
        }
        }
        if (r <= 0) {
            self->out_len = start;
            return r;
        }
    }
    if (out_put(self, "\n", 1) < 0) {
        self->out_len = start;
        return -1;
    }
    return 1;
}

/* The event's thread (borrowed) or NULL, without changing anything; 0 when Python
 * must process the event (an unknown thread that processing would create) */
static int
peek_thread(Printer *self, const unsigned char *blk, PyObject **thread)
{
    const unsigned char *ev = blk + 10;
    uint16_t t = rd16(ev + 20);
    *thread = NULL;
    if (self->kinds_tab[t] == 3)
        return 0;
    PyObject *th = find_thread(self, (int64_t)rd64(ev + 8));
    if (th == NULL)
        return PyErr_Occurred() ? -1 : (self->kinds_tab[t] == 0 ? 1 : 0);
    if (Py_TYPE(th) != self->thread_type)
        return 0;
    *thread = th;
    return 1;
}

static PyObject *
Printer_run(Printer *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t pos, end;
    unsigned long long num;
    if (!PyArg_ParseTuple(args, "y*nnK", &buf, &pos, &end, &num))
        return NULL;
    if (end > buf.len)
        end = buf.len;
    const unsigned char *b = buf.buf;
    unsigned max_type = (unsigned)self->nactions;
    uint32_t bl;
    uint16_t t;
    int failed = 0;
    unsigned long long start = num;
    uint64_t first_ts = 0;
    self->pending = 0;   /* the reader's before() hook applied what waited */
    while (pos >= 0 && self->out_len < OUT_LIMIT && framed(b, pos, end, max_type, &bl, &t)) {
        unsigned char a = self->actions[t];
        if ((a & 3) == ACTION_PYTHON)
            break;
        if (self->pending) {      /* as State.process: the last close takes effect now */
            PyObject *r = PyObject_CallNoArgs(self->flush_pending);
            if (r == NULL) { failed = 1; break; }
            Py_DECREF(r);
            self->pending = 0;
        }
        PyObject *thread = NULL;
        int peeked = 0;
        Py_ssize_t mark = self->out_len;
        if ((a & 3) == ACTION_CHECK) {
            /* the filter's checks decided here: a pass goes to Python, a failure is
             * a filtered-out event (bookkeeping only, below) */
            int r = peek_thread(self, b + pos, &thread);
            if (r < 0) { failed = 1; break; }
            if (r == 0) break;
            peeked = 1;
            if (rules_has(self, t)) {
                /* the rules decided here (_speedups_rules.c): an open* exit's on the fd
                 * the open adds, a socket exit's without an fd */
                unsigned char parser = self->parsers_tab[t];
                r = parser >= P_OPEN && parser <= P_OPENAT2
                    ? open_prepare(self, b + pos, thread, parser) : 1;
                if (r > 0)
                    r = rules_decide(self, b + pos, num + 1, thread);
                else if (r == 0)
                    r = 1;
                if (r < 0) { failed = 1; break; }
                if (r) {    /* a rule may match (or C cannot parse it): Python */
                    open_release(self);
                    break;
                }
            } else {
                r = checks_pass(self, b + pos, thread);
                if (r < 0) { failed = 1; break; }
                if (r) break;   /* passed (or undecided here): Python evaluates the filter */
            }
        } else if ((a & 3) == ACTION_SHOW) {
            /* format first (it may decline), then apply: a declined event is untouched */
            if (self->state != NULL) {
                /* the thread the line reads is the one the bookkeeping finds */
                int r = peek_thread(self, b + pos, &thread);
                if (r < 0) { failed = 1; break; }
                if (r == 0) break;
                peeked = 1;
            }
            int r = format_event(self, b + pos, num + 1, a, thread, self->state != NULL);
            if (r < 0) { failed = 1; break; }
            if (r == 0) break;
        }
        if (self->state != NULL) {
            int r = bookkeep(self, b + pos, num + 1, thread, peeked, &thread);
            open_release(self);
            if (r < 0) { failed = 1; break; }
            if (r == 0) {           /* Python processes it (and prints it) */
                self->out_len = mark;
                break;
            }
            self->last_ts = rd64(b + pos + 10);
            if (!first_ts)
                first_ts = self->last_ts;
        }
        num++;
        pos += bl;
    }
    open_release(self);
    PyBuffer_Release(&buf);
    if (failed || sync_state(self, num - start, first_ts) < 0)
        return NULL;
    return Py_BuildValue("nK", pos, num);
}

static PyObject *
Printer_write(Printer *self, PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    int r = out_put(self, data.buf, data.len);
    PyBuffer_Release(&data);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Printer_take(Printer *self, PyObject *unused)
{
    PyObject *r = PyBytes_FromStringAndSize(self->out ? self->out : "", self->out_len);
    if (r == NULL)
        return NULL;
    self->out_len = 0;
    if (self->out_cap > 4 * OUT_LIMIT) {   /* a huge Python line grew it: give it back */
        PyMem_Free(self->out);
        self->out = NULL;
        self->out_cap = 0;
    }
    return r;
}

static PyObject *
Printer_pending(Printer *self, void *closure)
{
    return PyLong_FromSsize_t(self->out_len);
}

static PyMethodDef Printer_methods[] = {
    {"run", (PyCFunction)Printer_run, METH_VARARGS,
     "run(buf, pos, end, num) -> (pos, num): format/skip events until one needs Python"},
    {"write", (PyCFunction)Printer_write, METH_O, "append bytes printed by Python"},
    {"take", (PyCFunction)Printer_take, METH_NOARGS, "the waiting output, cleared"},
    {"decide", (PyCFunction)Printer_decide, METH_VARARGS,
     "decide(block, num) -> None|0|1|2: the rules' Kleene value on an event (tests)"},
    {NULL}
};

static PyGetSetDef Printer_getset[] = {
    {"pending", (getter)Printer_pending, NULL, "bytes of output waiting", NULL},
    {NULL}
};

static PyTypeObject PrinterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "falcolib._speedups.Printer",
    .tp_basicsize = sizeof(Printer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Formats the events of a replay that need no Python (see the module doc)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Printer_init,
    .tp_dealloc = (destructor)Printer_dealloc,
    .tp_methods = Printer_methods,
    .tp_getset = Printer_getset,
};

static PyMethodDef module_methods[] = {
    {"spans", speed_spans, METH_VARARGS,
     "spans(buf, base, end, n, large) -> [(pos, len)]: where an event's parameters lie"},
    {"skip", speed_skip, METH_VARARGS,
     "skip(buf, pos, end, wanted, max_type) -> (pos, count): step over unwanted events"},
    {NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "falcolib._speedups",
    "C loops for capture replay (see falcolib/_speedups.c)", -1, module_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&PrinterType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&speedups_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&PrinterType);
    if (PyModule_AddObject(m, "Printer", (PyObject *)&PrinterType) < 0) {
        Py_DECREF(&PrinterType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "ACTION_PYTHON", ACTION_PYTHON);
    PyModule_AddIntConstant(m, "ACTION_SKIP", ACTION_SKIP);
    PyModule_AddIntConstant(m, "ACTION_SHOW", ACTION_SHOW);
    PyModule_AddIntConstant(m, "ACTION_CHECK", ACTION_CHECK);
    PyModule_AddIntConstant(m, "ENTER_EXIT", ENTER_EXIT);
    return m;
}
