/*
 * falcolib._speedups: the open/creat/openat/openat2 exit parser (parsers 4-8 of the
 * Printer's per-type table), what falcolib/state/fd_parsers.parse_open_exit does, cut
 * in two so that the rules (_speedups_rules.c) can look at the fd before anything
 * changes:
 *
 *  open_prepare() reads the event, its kept enter and the tables and works out the
 *      FdInfo to add without changing anything; 0 when Python must parse this event
 *      (odd bytes, an unknown main thread or directory fd, a full table, ...).
 *  open_commit() applies it: the FdInfo made by calling the Python type, added with
 *      State.add_fd's semantics. open_release() drops what prepare held.
 *
 * The same two halves serve four simpler exits (parsers 12-15, exit_prepare and
 * exit_commit at the end): pipe/pipe2 (fd_parsers.parse_pipe_exit: two FIFO fds),
 * getrlimit/setrlimit (resource_parsers.parse_rlimit_exit: the process' fd limit),
 * fcntl (fd_parsers.parse_fcntl_exit, whose F_DUPFD case, a copy of the fd, stays
 * Python's) and socket (socket_parsers.parse_socket_exit: the fd add_socket makes).
 *
 * Attacker-controlled bytes (paths) are only copied and compared, into buffers bounded
 * by sysdig's path limit (MAX_PATH_SYSDIG); nothing is ever evaluated.
 */
#include "_speedups.h"

#define PPM_AT_FDCWD (-100)
#define CL_IS_MAIN (1LL << 30)
#define MAX_PARAMS 32


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

/* paths._SANITIZE: a printable ASCII byte stays, any other becomes '.' */
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

/* cfg: (Event type, max_fds, O_DIRECTORY, FD_FILE_V2, FD_DIRECTORY, FD_FIFO, RLIMIT_NOFILE,
 * F_DUPFD, F_DUPFD_CLOEXEC, (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, FD_UNIX_SOCK,
 * FD_NETLINK, L4_UNKNOWN, L4_TCP, L4_UDP, L4_ICMP, L4_RAW, IPPROTO_IP, IPPROTO_ICMP,
 * IPPROTO_TCP, IPPROTO_UDP, IPPROTO_RAW, SOCK_STREAM, SOCK_DGRAM, SOCK_RAW)) */
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
    if (!PyArg_ParseTuple(cfg, "O!LLLLLLLL(LLLLLLLLLLLLLLLLLLL)", &PyType_Type, &ev_type,
                          &op->max_fds, &op->o_directory, &op->fd_file, &op->fd_dir,
                          &op->fd_fifo, &op->rlimit_nofile, &op->f_dupfd, &op->f_dupfd_cloexec,
                          &op->af_unix, &op->af_inet, &op->af_inet6, &op->af_netlink,
                          &op->fd_unix, &op->fd_netlink, &op->l4_unknown, &op->l4_tcp,
                          &op->l4_udp, &op->l4_icmp, &op->l4_raw, &op->ipproto_ip,
                          &op->ipproto_icmp, &op->ipproto_tcp, &op->ipproto_udp,
                          &op->ipproto_raw, &op->sock_stream, &op->sock_dgram, &op->sock_raw))
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
        member_offset(self->fd_type, "nameraw", &op->off_fd_nameraw) < 0 ||
        member_offset(self->thread_type, "fdlimit", &op->off_fdlimit) < 0 ||
        member_offset(self->fd_type, "l4proto", &op->off_fd_l4proto) < 0 ||
        member_offset(self->fd_type, "sip", &op->off_fd_sip) < 0)
        return -1;
    return 0;
}

/* Drop what open_prepare held (the enter event, its buffer, the str made) */
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
    op->xmain = NULL;
    op->xapply = 0;
    op->ready = 0;
}

/* The Printer goes: the parser's state with it */
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

/* prepare() for the event at blk once (the rules and the bookkeeping both ask): 1
 * prepared, 0 Python must parse it, -1 error */
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

/* what both commits do first: nothing when no parse is ready (0), else the thread's
 * cached lookups invalidated when the parse asked; 1 go on, -1 error */
static int
commit_begin(Printer *self, PyObject *th)
{
    struct OpenParse *op = self->open;
    if (op == NULL || !op->ready)
        return 0;
    if (op->invalidate) {
        Py_INCREF(Py_False);
        if (set_slot(th, self->off_lvalid, Py_False) < 0)
            return -1;
    }
    return 1;
}

/* parse_open_exit's writing half: the FdInfo made and added as State.add_fd does */
int
open_commit(Printer *self, PyObject *th)
{
    struct OpenParse *op = self->open;
    int go = commit_begin(self, th);
    if (go <= 0)
        return go;
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



/* -- pipe, getrlimit/setrlimit and fcntl exits (parsers 12-14) ------------------------ */

/* A one-byte parameter (PT_ENUMFLAGS8) as _v reads it: ``dflt`` when absent; 0 when its
 * width is not 1 (Python decodes that case itself). */
static int
param_u8(const unsigned char *ev, Py_ssize_t size, uint32_t nparams, uint32_t i, long long dflt,
         long long *out)
{
    Param p;
    if (!param_at(ev, size, nparams, i, &p))
        return 0;
    if (p.p == NULL) {
        *out = dflt;
        return 1;
    }
    if (p.n != 1)
        return 0;
    *out = p.p[0];
    return 1;
}

/* Whether fd can be added to the table (State.add_fd) without a case C leaves to Python:
 * a full table, or an entry being closed (parked then) */
static int
plain_add(Printer *self, PyObject *fds, long long fd, Py_ssize_t more)
{
    PyObject *key = PyLong_FromLongLong(fd);
    if (key == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(fds, key);
    Py_DECREF(key);
    if (old == NULL) {
        if (PyErr_Occurred())
            return -1;
        return PyDict_GET_SIZE(fds) + more <= self->open->max_fds;
    }
    long long fl;
    if (Py_TYPE(old) != self->fd_type || !slot_ll(old, self->off_fd_flags, &fl))
        return 0;
    return !(fl & self->fl_in_progress);
}

/* socket_parsers.add_socket's fd for the socket exit's ``fd`` (>= 0) and its kept enter
 * (domain, type, proto): 1 prepared (nothing to add for another domain), 0 Python,
 * -1 error */
static int
socket_prepare(Printer *self, PyObject *th, long long fd, const unsigned char *en,
               Py_ssize_t esize, uint32_t enp)
{
    struct OpenParse *op = self->open;
    long long domain, stype, proto;
    if (!param_int(en, esize, enp, 0, 4, 0, &domain) ||
        !param_int(en, esize, enp, 1, 4, 0, &stype) ||
        !param_int(en, esize, enp, 2, 4, 0, &proto))
        goto python;
    op->xinet = 0;
    op->xl4 = op->l4_unknown;
    if (domain == op->af_unix) {
        op->xtype = op->fd_unix;
    } else if (domain == op->af_inet || domain == op->af_inet6) {
        op->xinet = domain == op->af_inet ? 4 : 6;
        op->xtype = domain == op->af_inet ? self->sock4 : self->sock6;
        if (proto == op->ipproto_tcp)
            op->xl4 = stype == op->sock_raw ? op->l4_raw : op->l4_tcp;
        else if (proto == op->ipproto_udp)
            op->xl4 = stype == op->sock_raw ? op->l4_raw : op->l4_udp;
        else if (proto == op->ipproto_ip) {
            if ((stype & 0xFF) == op->sock_stream)
                op->xl4 = op->l4_tcp;
            else if ((stype & 0xFF) == op->sock_dgram)
                op->xl4 = op->l4_udp;
        } else if (proto == op->ipproto_icmp)
            op->xl4 = stype == op->sock_raw ? op->l4_raw : op->l4_icmp;
        else if (proto == op->ipproto_raw)
            op->xl4 = op->l4_raw;
    } else if (domain == op->af_netlink) {
        op->xtype = op->fd_netlink;
    } else {
        return 1;   /* FD_UNKNOWN: nothing added */
    }
    PyObject *fds = SLOT(th, self->off_fds);
    if (fds == NULL || !PyDict_CheckExact(fds))
        goto python;
    int r = plain_add(self, fds, fd, 1);
    if (r <= 0) {
        open_release(self);
        return r;
    }
    op->xfd[0] = fd;
    op->xapply = 1;
    return 1;
python:
    open_release(self);
    return 0;
}

/* What the exit's parser will do, nothing changed yet: 1 prepared, 0 Python must parse
 * it, -1 error. ``fd``: the fd the bookkeeping found for the exit (view.fd) or NULL. */
int
exit_prepare(Printer *self, const unsigned char *blk, PyObject *th, PyObject *fd,
             unsigned char parser)
{
    struct OpenParse *op = self->open;
    if (op == NULL || th == NULL || parser < P_PIPE || parser > P_SOCKET)
        return 0;
    open_release(self);
    const unsigned char *ev = blk + 10;
    Py_ssize_t size = rd32(ev + 16);
    uint32_t np = rd32(ev + 22);
    uint16_t t = rd16(ev + 20);
    long long res;
    op->blk = blk;
    op->thread = th;
    op->invalidate = 0;
    op->xapply = 0;
    op->xparser = parser;
    op->ready = 1;
    if (!param_int(ev, size, np, 0, 8, -1, &res))
        goto python;
    if (parser == P_PIPE) {   /* res >= 0: the two fds, FIFOs of the pipe's inode */
        long long ino;
        if (res < 0)
            return 1;
        if (!param_int(ev, size, np, 1, 8, -1, &op->xfd[0]) ||
            !param_int(ev, size, np, 2, 8, -1, &op->xfd[1]) ||
            !param_int(ev, size, np, 3, 8, 0, &ino))
            goto python;
        op->xino = (unsigned long long)ino;
        if (op->xfd[0] < 0 || op->xfd[1] < 0 || op->xfd[0] == op->xfd[1])
            goto python;
        PyObject *fds = SLOT(th, self->off_fds);
        if (fds == NULL || !PyDict_CheckExact(fds))
            goto python;
        for (int k = 0; k < 2; k++) {
            int r = plain_add(self, fds, op->xfd[k], 2);
            if (r <= 0) {
                open_release(self);
                return r;
            }
        }
        op->xapply = 1;
        return 1;
    }
    if ((parser == P_RLIMIT || parser == P_SOCKET) && res < 0)
        return 1;   /* (the enter is not even looked at) */
    const unsigned char *en;
    Py_ssize_t esize;
    uint32_t enp;
    if (!find_enter(self, th, t, &en, &esize, &enp))
        goto python;
    if (en == NULL)
        return 1;   /* no enter: nothing to do (but ``invalidate``) */
    long long arg;
    if (parser == P_SOCKET)
        return socket_prepare(self, th, res, en, esize, enp);
    if (parser == P_FCNTL) {   /* F_DUPFD(_CLOEXEC) on a known fd: a copy, Python's */
        if (res < 0 || fd == NULL)
            return 1;
        if (!param_u8(en, esize, enp, 1, 0, &arg))
            goto python;
        if (arg == op->f_dupfd || arg == op->f_dupfd_cloexec)
            goto python;
        return 1;
    }
    /* getrlimit/setrlimit of RLIMIT_NOFILE: the new limit on the main thread */
    if (!param_u8(en, esize, enp, 0, -1, &arg))
        goto python;
    if (arg != op->rlimit_nofile)
        return 1;
    if (!param_int(ev, size, np, 1, 8, -1, &op->xlimit))
        goto python;
    op->xmain = main_thread(self, th);
    if (op->xmain == NULL || Py_TYPE(op->xmain) != self->thread_type) {
        if (PyErr_Occurred()) {
            open_release(self);
            return -1;
        }
        goto python;   /* an unknown main thread: Python makes its placeholder */
    }
    op->xapply = op->xlimit != -1;
    return 1;
python:
    open_release(self);
    return 0;
}

/* add_socket's FdInfo(type) (l4proto, sip and dip for an ip socket), added as
 * State.add_fd does: 0 done, -1 error */
static int
socket_commit(Printer *self, PyObject *th)
{
    struct OpenParse *op = self->open;
    if (set_slot(th, self->off_lfd, PyLong_FromLongLong(op->xfd[0])) < 0)
        return -1;
    PyObject *fi = PyObject_CallFunction((PyObject *)self->fd_type, "L", op->xtype);
    if (fi == NULL)
        return -1;
    int rc = -1;
    PyObject *key = NULL;
    if (Py_TYPE(fi) != self->fd_type) {
        PyErr_SetString(PyExc_TypeError, "the fd type made something else");
        goto out;
    }
    if (op->xinet) {
        const char *any = op->xinet == 4 ? "0.0.0.0" : "::";
        if (set_slot(fi, op->off_fd_l4proto, PyLong_FromLongLong(op->xl4)) < 0 ||
            set_slot(fi, op->off_fd_sip, PyUnicode_FromString(any)) < 0 ||
            set_slot(fi, self->off_fd_dip, PyUnicode_FromString(any)) < 0)
            goto out;
    }
    key = PyLong_FromLongLong(op->xfd[0]);
    if (key == NULL || PyDict_SetItem(SLOT(th, self->off_fds), key, fi) < 0)
        goto out;
    rc = 0;
out:
    Py_XDECREF(key);
    Py_DECREF(fi);
    return rc;
}

/* exit_prepare's findings applied (after the bookkeeping, as State.process runs the
 * parser after it): 0 done, -1 error */
int
exit_commit(Printer *self, PyObject *th)
{
    struct OpenParse *op = self->open;
    int go = commit_begin(self, th);
    if (go <= 0)
        return go;
    if (!op->xapply)
        return 0;
    if (op->xparser == P_RLIMIT)
        return set_slot(op->xmain, op->off_fdlimit, PyLong_FromLongLong(op->xlimit));
    if (op->xparser == P_SOCKET)
        return socket_commit(self, th);
    /* P_PIPE: FdInfo(FD_FIFO, "", 0, 0, ino) for each fd, State.add_fd's way */
    PyObject *fds = SLOT(th, self->off_fds);
    for (int k = 0; k < 2; k++) {
        if (set_slot(th, self->off_lfd, PyLong_FromLongLong(op->xfd[k])) < 0)
            return -1;
        PyObject *fi = PyObject_CallFunction((PyObject *)self->fd_type, "LsiiK", op->fd_fifo, "",
                                             0, 0, op->xino);
        if (fi == NULL)
            return -1;
        PyObject *key = PyLong_FromLongLong(op->xfd[k]);
        int r = key == NULL ? -1 : PyDict_SetItem(fds, key, fi);
        Py_XDECREF(key);
        Py_DECREF(fi);
        if (r < 0)
            return -1;
    }
    return 0;
}
