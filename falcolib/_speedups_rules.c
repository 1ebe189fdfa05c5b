/*
 * falcolib._speedups, second file: what lets the C loop keep most open* exits
 * out of Python during a rules run.
 *
 *  - The open/creat/openat/openat2 exit parser (parsers 4-8 of the per-type
 *    table): what falcolib/state/fd_parsers.parse_open_exit does, cut in two.
 *    open_prepare() reads the event, its enter and the tables and works out the
 *    FdInfo to add without changing anything (0: Python must parse this event:
 *    odd bytes, an unknown main thread or dirfd, a full table...); open_commit()
 *    then applies it (FdInfo made by calling the Python type, State.add_fd's
 *    semantics); open_release() drops what prepare held.
 *  - The rules decided here: per event type, one program, the OR of the
 *    conditions of every rule of that type (built by falcolib/filter/c_rules.py
 *    from the compiled rules), evaluated in three-valued (Kleene) logic over the
 *    tests C answers exactly; a test it cannot answer is UNKNOWN. Only an event
 *    every rule is FALSE on stays out of Python.
 *
 * Attacker-controlled bytes (paths) are only copied and compared, into buffers
 * bounded by sysdig's path limit; nothing is ever evaluated.
 */
#include "_speedups.h"
#include <limits.h>

#define MAX_PATH_SYSDIG 1024       /* SCAP_MAX_PATH_SIZE (falcolib/state/paths.py MAX_PATH) */
#define PATH_BUF (MAX_PATH_SYSDIG + 16)
#define PPM_AT_FDCWD (-100)
#define CL_IS_MAIN (1LL << 30)
#define MAX_PARAMS 32
#define MAX_DEPTH 200

enum { P_OPEN = 4, P_CREAT = 5, P_OPENAT = 6, P_OPENAT_2 = 7, P_OPENAT2 = 8 };

/* ------------------------------------------------------------- open exits */

struct OpenParse {
    /* set up once (open_init) */
    PyTypeObject *event_type;   /* falcolib.decode.event.Event: the kept enter */
    Py_ssize_t off_ev_raw, off_ev_type, off_cwd, off_fd_dev, off_fd_ino, off_fd_nameraw;
    long long max_fds, o_directory, fd_file, fd_dir;
    /* the event prepared (between open_prepare and open_release) */
    int ready;
    const unsigned char *blk;   /* the event and thread prepared for */
    PyObject *thread;
    int adds;               /* an fd is added (fd >= 0 and a name source) */
    int invalidate;         /* State.enter_event would clear lastevent_valid */
    int set_ino;            /* parse_open_exit sets fi.ino */
    int is_dir;
    int64_t fd;
    long long flags, dev, ino;
    int has_exit_flags;     /* the exit's own flags parameter (evt.is_open_*) */
    long long exit_flags;
    PyObject *old;          /* the entry fd replaces (borrowed) or NULL */
    int old_closing;        /* it is being closed: it is parked, as State.add_fd does */
    char path[PATH_BUF];    /* fd.name */
    Py_ssize_t pathlen;
    const unsigned char *raw;   /* the name as passed (fd.nameraw), up to its NUL */
    Py_ssize_t rawlen;
    PyObject *enter;        /* the enter event ``raw`` may point into (a reference) */
    Py_buffer enter_buf;
    int have_buf;
    PyObject *name_obj;     /* fd.name as a str, made when first needed */
    PyObject *dir_obj, *file_obj, *raw_obj;
};

typedef struct { const unsigned char *p; Py_ssize_t n; } Param;

/* Parameter i of an event of ``size`` bytes at ev (26-byte header, u16 lengths).
 * 1 with *out (p NULL when absent: i >= nparams), 0 when the event is malformed. */
static int
param_at(const unsigned char *ev, Py_ssize_t size, uint32_t nparams, uint32_t i, Param *out)
{
    out->p = NULL;
    out->n = 0;
    if (nparams > MAX_PARAMS || 26 + 2 * (Py_ssize_t)nparams > size)
        return 0;
    if (i >= nparams)
        return 1;
    Py_ssize_t pos = 26 + 2 * (Py_ssize_t)nparams;
    for (uint32_t k = 0; k < i; k++)
        pos += rd16(ev + 26 + 2 * k);
    Py_ssize_t n = rd16(ev + 26 + 2 * i);
    if (pos + n > size)
        return 0;
    out->p = ev + pos;
    out->n = n;
    return 1;
}

/* An integer parameter as proc_parsers._v reads it: ``dflt`` when absent; 0 when its
 * width is not ``width`` (Python decodes that case itself). Signed for 8 bytes. */
static int
param_int(const unsigned char *ev, Py_ssize_t size, uint32_t nparams, uint32_t i, int width,
          long long dflt, long long *out)
{
    Param p;
    if (!param_at(ev, size, nparams, i, &p))
        return 0;
    if (p.p == NULL) {
        *out = dflt;
        return 1;
    }
    if (p.n != width)
        return 0;
    *out = width == 8 ? (long long)(int64_t)rd64(p.p) : width == 4 ? (long long)rd32(p.p)
                                                                   : (long long)rd16(p.p);
    return 1;
}

/* A path parameter as proc_parsers._b reads it (b"" when absent) */
static int
param_bytes(const unsigned char *ev, Py_ssize_t size, uint32_t nparams, uint32_t i, Param *out)
{
    if (!param_at(ev, size, nparams, i, out))
        return 0;
    if (out->p == NULL)
        out->p = (const unsigned char *)"";
    return 1;
}

/* the length of b up to its first NUL (fd_parsers._cstr) */
static inline Py_ssize_t
cstr_len(const unsigned char *b, Py_ssize_t n)
{
    const unsigned char *z = memchr(b, 0, n);
    return z ? z - b : n;
}

/* ename and _cstr(ename) != b"(NULL)": the enter names the file */
static inline int
names_file(Param *p)
{
    Py_ssize_t n = cstr_len(p->p, p->n);
    return p->n > 0 && !(n == 6 && memcmp(p->p, "(NULL)", 6) == 0);
}

/* paths._rewind: drop the last component of out (which ends with '/') */
static void
rewind_path(char *out, Py_ssize_t *len)
{
    if (*len <= 1)
        return;
    (*len)--;
    while (*len >= 1 && out[*len - 1] != '/')
        (*len)--;
}

static inline char
sanitized(unsigned char c)
{
    return (c >= 0x20 && c < 0x7f) ? (char)c : '.';
}

/* paths._append (sysdig's copy_and_sanitize_path): path appended to out[0:*len],
 * '.' and '..' resolved lexically, '//' folded, bytes not printable made '.'. out
 * has room for *len + n bytes (the caller bounds both by MAX_PATH_SYSDIG). */
static void
append_path(char *out, Py_ssize_t *len, const unsigned char *path, Py_ssize_t n)
{
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = path[i];
        if (c == '.') {
            unsigned char nxt = i + 1 < n ? path[i + 1] : 0;
            if (nxt == '.') {
                unsigned char nxt2 = i + 2 < n ? path[i + 2] : 0;
                if (nxt2 == '/') {
                    rewind_path(out, len);
                    i += 3;
                    continue;
                }
                if (nxt2 == 0) {
                    rewind_path(out, len);
                    i += 2;
                    continue;
                }
                out[(*len)++] = '.';
                out[(*len)++] = '.';
                i += 2;
                continue;
            }
            if (nxt == '/') {
                i += 2;
                continue;
            }
            if (nxt == 0) {
                i += 1;
                continue;
            }
            out[(*len)++] = '.';
            i++;
        } else if (c == '/') {
            if (!(*len > 0 && out[*len - 1] == '/'))
                out[(*len)++] = '/';
            i++;
        } else {
            out[(*len)++] = sanitized(c);
            i++;
        }
    }
    if (*len > 1 && out[*len - 1] == '/')
        (*len)--;
}

/* paths.concatenate(dir, path) into out (PATH_BUF bytes); dir is printable ASCII,
 * path is cut at its NUL */
static Py_ssize_t
concatenate(const char *dir, Py_ssize_t dn, const unsigned char *path, Py_ssize_t pn, char *out)
{
    pn = cstr_len(path, pn);
    if (dn + pn + 2 > MAX_PATH_SYSDIG) {
        memcpy(out, "/PATH_TOO_LONG", 14);
        return 14;
    }
    Py_ssize_t len = 0;
    if (pn > 0 && path[0] != '/') {
        memcpy(out, dir, dn);
        len = dn;
    }
    append_path(out, &len, path, pn);
    return len;
}

/* The str in slot ``off`` of obj as printable ASCII bytes; 0 when it is anything else */
static int
ascii_slot(PyObject *obj, Py_ssize_t off, const char **s, Py_ssize_t *n)
{
    PyObject *v = SLOT(obj, off);
    if (v == NULL || !PyUnicode_Check(v) || !PyUnicode_IS_ASCII(v))
        return 0;
    *s = (const char *)PyUnicode_1BYTE_DATA(v);
    *n = PyUnicode_GET_LENGTH(v);
    return plain_ascii(*s, *n);
}

/* State.main_thread(t) without making a placeholder: borrowed; NULL with no error
 * when Python would have to make it (or the tables look odd) */
static PyObject *
main_thread(Printer *self, PyObject *th)
{
    long long tid, pid, flags;
    if (!slot_ll(th, self->off_tid, &tid) || !slot_ll(th, self->off_pid, &pid) ||
        !slot_ll(th, self->off_flags, &flags))
        return NULL;
    if (tid == pid || (flags & CL_IS_MAIN))
        return th;
    PyObject *key = PyLong_FromLongLong(pid);
    if (key == NULL)
        return NULL;
    PyObject *mt = PyDict_GetItemWithError(self->threads, key);
    Py_DECREF(key);
    if (mt != NULL && Py_TYPE(mt) != self->thread_type)
        return NULL;
    return mt;
}

/* cfg: (Event type, max_fds, O_DIRECTORY, FD_FILE_V2, FD_DIRECTORY) */
int
open_init(Printer *self, PyObject *cfg)
{
    PyObject *ev_type;
    struct OpenParse *op = PyMem_Calloc(1, sizeof *op);
    if (op == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->open = op;
    if (!PyArg_ParseTuple(cfg, "O!LLLL", &PyType_Type, &ev_type, &op->max_fds,
                          &op->o_directory, &op->fd_file, &op->fd_dir))
        return -1;
    Py_INCREF(ev_type);
    op->event_type = (PyTypeObject *)ev_type;
    if (member_offset(op->event_type, "raw", &op->off_ev_raw) < 0 ||
        member_offset(op->event_type, "type", &op->off_ev_type) < 0 ||
        member_offset(self->thread_type, "cwd", &op->off_cwd) < 0 ||
        member_offset(self->thread_type, "tid", &self->off_tid) < 0 ||
        member_offset(self->thread_type, "ptid", &self->off_ptid) < 0 ||
        member_offset(self->fd_type, "dev", &op->off_fd_dev) < 0 ||
        member_offset(self->fd_type, "ino", &op->off_fd_ino) < 0 ||
        member_offset(self->fd_type, "nameraw", &op->off_fd_nameraw) < 0)
        return -1;
    return 0;
}

void
open_release(Printer *self)
{
    struct OpenParse *op = self->open;
    if (op == NULL || !op->ready)
        return;
    Py_CLEAR(op->name_obj);
    Py_CLEAR(op->dir_obj);
    Py_CLEAR(op->file_obj);
    Py_CLEAR(op->raw_obj);
    if (op->have_buf)
        PyBuffer_Release(&op->enter_buf);
    op->have_buf = 0;
    Py_CLEAR(op->enter);
    op->old = NULL;
    op->ready = 0;
}

void
open_free(Printer *self)
{
    if (self->open == NULL)
        return;
    open_release(self);
    Py_XDECREF(self->open->event_type);
    PyMem_Free(self->open);
    self->open = NULL;
}

/* The enter event kept for this exit, as State.enter_event finds it: 1 with *ev,
 * *size, *nparams (or *ev NULL: none), 0 when Python must look. Holds the event. */
static int
find_enter(Printer *self, PyObject *th, uint16_t t, const unsigned char **ev, Py_ssize_t *size,
           uint32_t *nparams)
{
    struct OpenParse *op = self->open;
    long long ltype, etype;
    *ev = NULL;
    if (!slot_ll(th, self->off_ltype, &ltype))
        return 0;
    if ((long long)t != ltype + 1)
        return 1;   /* not paired: the bookkeeping forgets the enter */
    PyObject *valid = SLOT(th, self->off_lvalid);
    if (valid == Py_False)
        return 1;
    if (valid != Py_True)
        return 0;
    PyObject *lev = SLOT(th, self->off_lev);
    if (lev == NULL || lev == Py_None) {
        op->invalidate = 1;
        return 1;
    }
    if (Py_TYPE(lev) != op->event_type || !slot_ll(lev, op->off_ev_type, &etype))
        return 0;
    if (etype != (long long)t - 1) {
        op->invalidate = 1;
        return 1;
    }
    /* RawEvent(ts, tid, type, nparams, cpu, buf, off, size, hdr, ...) */
    PyObject *raw = SLOT(lev, op->off_ev_raw);
    if (raw == NULL || !PyTuple_Check(raw) || PyTuple_GET_SIZE(raw) < 9)
        return 0;
    long long np, off, sz, hdr;
    PyObject *o[4] = {PyTuple_GET_ITEM(raw, 3), PyTuple_GET_ITEM(raw, 6),
                      PyTuple_GET_ITEM(raw, 7), PyTuple_GET_ITEM(raw, 8)};
    long long *dst[4] = {&np, &off, &sz, &hdr};
    for (int k = 0; k < 4; k++) {
        if (!PyLong_CheckExact(o[k]))
            return 0;
        int overflow = 0;
        *dst[k] = PyLong_AsLongLongAndOverflow(o[k], &overflow);
        if (overflow || (*dst[k] == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
    }
    if (hdr != 26 || np < 0 || np > MAX_PARAMS || off < 0 || sz < 26)
        return 0;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(raw, 5), &op->enter_buf, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        return 0;
    }
    op->have_buf = 1;
    Py_INCREF(lev);
    op->enter = lev;
    if (off + sz > op->enter_buf.len)
        return 0;
    *ev = (const unsigned char *)op->enter_buf.buf + off;
    *size = (Py_ssize_t)sz;
    *nparams = (uint32_t)np;
    return 1;
}

/* proc_parsers.dirfd_path: the directory a *at() path is relative to, into dir
 * (PATH_BUF bytes). 1 done, 0 Python must say, -1 error. */
static int
dirfd_dir(Printer *self, PyObject *th, PyObject *mt, const unsigned char *name, Py_ssize_t n,
          long long dirfd, char *dir, Py_ssize_t *dn)
{
    const char *s;
    Py_ssize_t sn;
    if (n > 0 && name[0] == '/') {
        dir[0] = '.';
        *dn = 1;
        return 1;
    }
    if (dirfd == PPM_AT_FDCWD) {
        if (!ascii_slot(mt, self->open->off_cwd, &s, &sn) || sn > MAX_PATH_SYSDIG)
            return 0;
        memcpy(dir, s, sn);
        *dn = sn;
        return 1;
    }
    PyObject *fi;
    int r = lookup_fd(self, th, dirfd, &fi);
    if (r <= 0)
        return r;
    if (fi == NULL) {
        memcpy(dir, "<UNKNOWN>", 9);
        *dn = 9;
        return 1;
    }
    if (!ascii_slot(fi, self->off_fd_name, &s, &sn) || sn > MAX_PATH_SYSDIG)
        return 0;
    memcpy(dir, s, sn);
    *dn = sn;
    if (sn == 0 || s[sn - 1] != '/')
        dir[(*dn)++] = '/';
    return 1;
}

/* parse_open_exit's reading half for the exit at blk of thread th: 1 prepared (see
 * struct OpenParse), 0 Python must parse it, -1 error. Changes nothing. */
static int
prepare(Printer *self, const unsigned char *blk, PyObject *th, unsigned char parser)
{
    struct OpenParse *op = self->open;
    const unsigned char *ev = blk + 10;
    Py_ssize_t size = rd32(ev + 16);
    uint16_t t = rd16(ev + 20);
    uint32_t np = rd32(ev + 22);
    const unsigned char *en;
    Py_ssize_t esize = 0;
    uint32_t enp = 0;
    long long fd, dirfd = PPM_AT_FDCWD, v;
    Param name, ename;
    op->ready = 1;
    op->adds = op->invalidate = op->set_ino = 0;
    op->dev = op->ino = op->flags = 0;
    op->has_exit_flags = 0;
    PyObject *mt = main_thread(self, th);   /* cwd() (and any proc.* field) needs it */
    if (mt == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (!find_enter(self, th, t, &en, &esize, &enp))
        return 0;
    if (!param_int(ev, size, np, 0, 8, -1, &fd))
        return 0;
    switch (parser) {
    case P_OPEN:
    case P_CREAT:
        if (!param_bytes(ev, size, np, 1, &name))
            return 0;
        if (parser == P_OPEN && !param_int(ev, size, np, 2, 4, 0, &op->flags))
            return 0;
        if (!param_int(ev, size, np, parser == P_OPEN ? 4 : 3, 4, 0, &op->dev))
            return 0;
        if (en != NULL && enp >= 1) {
            if (!param_bytes(en, esize, enp, 0, &ename))
                return 0;
            if (names_file(&ename)) {
                name = ename;
                op->flags = 0;
                if (parser == P_OPEN && !param_int(en, esize, enp, 1, 4, 0, &op->flags))
                    return 0;
            }
        }
        break;
    case P_OPENAT:
        if (en == NULL)
            return 1;   /* parse_open_exit returns: nothing added */
        if (!param_bytes(en, esize, enp, 1, &name) ||
            !param_int(en, esize, enp, 2, 4, 0, &op->flags) ||
            !param_int(en, esize, enp, 0, 8, PPM_AT_FDCWD, &dirfd))
            return 0;
        break;
    default:   /* P_OPENAT_2, P_OPENAT2 */
        if (!param_bytes(ev, size, np, 2, &name) ||
            !param_int(ev, size, np, 3, 4, 0, &op->flags) ||
            !param_int(ev, size, np, 1, 8, PPM_AT_FDCWD, &dirfd))
            return 0;
        if (parser == P_OPENAT_2 && np > 5 && !param_int(ev, size, np, 5, 4, 0, &op->dev))
            return 0;
        if (en != NULL && enp >= 3) {
            if (!param_bytes(en, esize, enp, 1, &ename))
                return 0;
            if (names_file(&ename)) {
                name = ename;
                if (!param_int(en, esize, enp, 2, 4, 0, &op->flags) ||
                    !param_int(en, esize, enp, 0, 8, PPM_AT_FDCWD, &dirfd))
                    return 0;
            }
        }
    }
    /* evt.is_open_*: the exit's own flags parameter (fields/evt_flags._open_flags) */
    if (parser == P_OPEN || parser == P_OPENAT_2 || parser == P_OPENAT2) {
        uint32_t i = parser == P_OPEN ? 2 : 3;
        if (i < np) {
            if (!param_int(ev, size, np, i, 4, 0, &op->exit_flags))
                return 0;
            op->has_exit_flags = 1;
        }
    }
    op->rawlen = cstr_len(name.p, name.n);
    op->raw = name.p;
    if (!plain_ascii((const char *)op->raw, op->rawlen))
        return 0;   /* nameraw would need surrogates, fd.name dots: Python */
    char dir[PATH_BUF];
    Py_ssize_t dn;
    if (parser == P_OPEN || parser == P_CREAT) {
        const char *s;
        if (!ascii_slot(mt, op->off_cwd, &s, &dn) || dn > MAX_PATH_SYSDIG)
            return 0;
        memcpy(dir, s, dn);
    } else {
        int r = dirfd_dir(self, th, mt, op->raw, op->rawlen, dirfd, dir, &dn);
        if (r <= 0)
            return r;
    }
    if (fd < 0)
        return 1;
    op->fd = fd;
    op->pathlen = concatenate(dir, dn, name.p, name.n, op->path);
    op->is_dir = (op->flags & op->o_directory) != 0;
    if (np > 5 && (parser == P_OPEN || parser == P_OPENAT_2)) {
        op->set_ino = 1;
        if (!param_int(ev, size, np, parser == P_OPEN ? 5 : 6, 8, 0, &op->ino))
            return 0;
    }
    /* State.add_fd: a full table drops it (Python); a closing entry is parked */
    PyObject *old;
    int r = lookup_fd(self, th, fd, &old);
    if (r <= 0)
        return r;
    op->old = old;
    op->old_closing = 0;
    if (old == NULL) {
        PyObject *fds = SLOT(th, self->off_fds);
        if (PyDict_GET_SIZE(fds) >= op->max_fds)
            return 0;
    } else {
        if (!slot_ll(old, self->off_fd_flags, &v))
            return 0;
        op->old_closing = (v & self->fl_in_progress) != 0;
    }
    op->adds = 1;
    return 1;
}

int
open_prepare(Printer *self, const unsigned char *blk, PyObject *thread, unsigned char parser)
{
    struct OpenParse *op = self->open;
    if (op == NULL || thread == NULL || parser < P_OPEN || parser > P_OPENAT2)
        return 0;
    if (op->ready && op->blk == blk && op->thread == thread)
        return 1;   /* prepared for the rules already */
    open_release(self);
    op->blk = blk;
    op->thread = thread;
    int r = prepare(self, blk, thread, parser);
    if (r <= 0)
        open_release(self);
    return r;
}

/* the prepared name as a str (a new reference kept in op) */
static PyObject *
path_obj(struct OpenParse *op)
{
    if (op->name_obj == NULL)
        op->name_obj = PyUnicode_DecodeASCII(op->path, op->pathlen, NULL);
    return op->name_obj;
}

/* parse_open_exit's writing half: the FdInfo made and added as State.add_fd does */
int
open_commit(Printer *self, PyObject *th)
{
    struct OpenParse *op = self->open;
    if (op == NULL || !op->ready)
        return 0;
    if (op->invalidate) {
        Py_INCREF(Py_False);
        if (set_slot(th, self->off_lvalid, Py_False) < 0)
            return -1;
    }
    if (!op->adds)
        return 0;
    PyObject *name = path_obj(op);
    if (name == NULL)
        return -1;
    PyObject *fi = PyObject_CallFunction((PyObject *)self->fd_type, "LOL",
                                         op->is_dir ? op->fd_dir : op->fd_file, name, op->flags);
    if (fi == NULL)
        return -1;
    int rc = -1;
    PyObject *key = NULL;
    if (Py_TYPE(fi) != self->fd_type) {
        PyErr_SetString(PyExc_TypeError, "the fd type made something else");
        goto out;
    }
    if (set_slot(fi, op->off_fd_dev, PyLong_FromLongLong(op->dev)) < 0 ||
        set_slot(fi, op->off_fd_nameraw,
                 PyUnicode_DecodeASCII((const char *)op->raw, op->rawlen, NULL)) < 0)
        goto out;
    if (op->set_ino && set_slot(fi, op->off_fd_ino, PyLong_FromLongLong(op->ino)) < 0)
        goto out;
    if (set_slot(th, self->off_lfd, PyLong_FromLongLong(op->fd)) < 0)
        goto out;
    PyObject *fds = SLOT(th, self->off_fds);
    if (op->old != NULL && op->old_closing) {
        /* reused between close enter and exit: that close must not remove the new fd */
        long long fl;
        if (!slot_ll(fi, self->off_fd_flags, &fl))
            fl = 0;
        if (set_slot(fi, self->off_fd_flags,
                     PyLong_FromLongLong((fl & ~self->fl_in_progress) | self->fl_canceled)) < 0)
            goto out;
        key = PyLong_FromLongLong(self->canceled_fd);
        if (key == NULL || PyDict_SetItem(fds, key, op->old) < 0)
            goto out;
        Py_CLEAR(key);
    }
    op->old = NULL;
    key = PyLong_FromLongLong(op->fd);
    if (key == NULL || PyDict_SetItem(fds, key, fi) < 0)
        goto out;
    rc = 0;
out:
    Py_XDECREF(key);
    Py_DECREF(fi);
    return rc;
}

/* ------------------------------------------------------------ the rules */

/* test fields and operators (falcolib/filter/c_rules.py gives the same numbers) */
enum { RF_FD_NAME = 1, RF_FD_DIRECTORY, RF_FD_FILENAME, RF_FD_NAMERAW, RF_FD_TYPECHAR,
       RF_FD_NUM, RF_EVT_NUM, RF_OPEN_FLAG, RF_COMM, RF_EXE };
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
};

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
        if (tt->field < RF_FD_NAME || tt->field > RF_EXE || tt->op < OP_EQ || tt->op > OP_EXISTS ||
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
        int text = tt->field != RF_FD_NUM && tt->field != RF_EVT_NUM && tt->field != RF_OPEN_FLAG;
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
    case RF_OPEN_FLAG: {   /* evt.is_open_read/write = true|false: n the flag bit */
        int b = op->has_exit_flags && (op->exit_flags & tt->n);
        if (tt->op == OP_EQ)
            return b == (tt->num != 0);
        if (tt->op == OP_NE)
            return b != (tt->num != 0);
        return K_UNKNOWN;
    }
    case RF_FD_NUM:
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
    default: {   /* the fd the open adds */
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
    if (!rules_has(self, t) || self->open == NULL || !self->open->ready || !self->open->adds)
        return 1;
    rs->gen++;
    int r = eval(self, rs->root[t], num, thread);
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
    int r = open_prepare(self, blk, thread, self->parsers_tab[t]);
    if (r < 0)
        goto out;
    if (r == 0 || !self->open->adds) {
        open_release(self);
        result = Py_NewRef(Py_None);
        goto out;
    }
    self->rules->gen++;
    r = eval(self, self->rules->root[t], num, thread);
    open_release(self);
    if (r >= 0)
        result = PyLong_FromLong(r);
out:
    PyBuffer_Release(&buf);
    return result;
}
