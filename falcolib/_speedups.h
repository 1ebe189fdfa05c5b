/*
 * What the files of falcolib._speedups share: the Printer object, the event
 * readers and the helpers both use (falcolib/_speedups.c holds the module and the
 * Printer loop, falcolib/_speedups_open.c the open* exit parser,
 * falcolib/_speedups_rules.c the rules decided in C).
 */
#ifndef FALCOLIB_SPEEDUPS_H
#define FALCOLIB_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define EV_BLOCK_TYPE_V2 0x216u
#define FAST_SIZE 36               /* block header + cpu + 26-byte event header */
#define MAX_EVENT_BLOCK (8 + (1 << 16))
#define EVENT_CAP (MAX_EVENT_BLOCK - 14)
#define OUT_LIMIT (1 << 20)        /* run() returns once this much text is waiting */
#define SLOT(obj, off) (*(PyObject **)((char *)(obj) + (off)))

enum { ACTION_PYTHON = 0, ACTION_SKIP = 1, ACTION_SHOW = 2, ACTION_CHECK = 3 };
enum { ENTER_EXIT = 4 };   /* action flag: an unknown thread here would be created by Python */

static inline uint16_t rd16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* 1 with *out set when the slot holds an int that fits, else 0 */
static inline int
slot_ll(PyObject *obj, Py_ssize_t off, long long *out)
{
    PyObject *v = SLOT(obj, off);
    if (v == NULL || !PyLong_CheckExact(v))
        return 0;
    int overflow = 0;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || (*out == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    return 1;
}


#define MAX_TESTS 64
typedef struct {
    Py_ssize_t off;   /* the attribute's slot (thread tests) */
    int whose, n, clause;
    int fdname;       /* a test on fd.name: ``whose`` is then the operator (FD_*) */
    PyObject *set;
    const char *pat;  /* the one value of FD_PREFIX/FD_GLOB/FD_CONTAINS (UTF-8, in set) */
    Py_ssize_t patlen;
} Test;

enum { FD_IN = 0, FD_PREFIX = 1, FD_GLOB = 2, FD_CONTAINS = 3 };
/* flags_tab bits beyond 1 (uses an fd) and 2 (discarded): */
#define FL_FD_EVENT 4       /* fd.* fields have a value (uses, creates or destroys an fd) */
#define FL_NAME_CREATOR 8   /* fd.name may come from the event itself (connect exits) */

typedef struct {
    PyObject_HEAD
    unsigned char *actions;
    Py_ssize_t nactions;
    int *kinds;              /* the plan: field codes, F_LITERAL for text */
    PyObject **literals;     /* bytes for F_LITERAL parts, else NULL */
    Py_ssize_t nparts;
    int require_all;
    int escape;              /* fall back to Python for any control or non-ASCII byte */
    int uses_thread;
    PyObject *type_names;    /* tuple of bytes, one per type */
    PyObject *syscall_names; /* tuple of bytes, one per syscall id */
    PyObject *threads;       /* dict tid -> ThreadInfo, or None */
    PyTypeObject *thread_type;
    Py_ssize_t off_comm, off_pid, off_exe;
    /* state bookkeeping (State.process for events no parser wants), when ``state`` given */
    PyObject *state;
    unsigned char *kinds_tab;   /* per type: 0 none, 1 enter, 2 exit */
    unsigned char *flags_tab;   /* per type: 1 uses an fd, 2 discarded (sysdig filter order) */
    PyTypeObject *fd_type;
    Py_ssize_t off_flags, off_ltype, off_latency, off_enter_ts, off_lfd, off_lvalid, off_lev,
               off_fds, off_fd_name, off_fd_oldname;
    unsigned long long consumed;
    uint64_t last_ts;
    /* parsers run here (per type: 0 none, 1 close enter, 2 close exit) and what they need */
    unsigned char *parsers_tab;
    long long fl_in_progress, fl_canceled, canceled_fd, sock4, sock6;
    long long fl_connected, fl_pending, fl_failed;   /* FdInfo.set_connected's flags */
    long long cl_closed;                             /* ThreadInfo's CL_CLOSED */
    Py_ssize_t off_fd_flags, off_fd_type, off_fd_dip, off_fd_dport;
    PyObject *remove_fd_later, *flush_pending;   /* the state's bound methods */
    PyObject *remove_thread_later;
    PyObject *keep;    /* keep(data, ts, tid, type, nparams, cpu, num) -> the kept Event */
    PyTypeObject *raw_type;       /* or RawEvent and Event, to make it here */
    PyObject *kept_event_type;
    PyObject *key;     /* the int object of the last tid looked up */
    int64_t key_tid;
    int pending;                                  /* a removal waits for the next event */
    /* ACTION_CHECK: conjuncts of the filter decided here (slot offset, set of values) */
    Test tests[MAX_TESTS];
    Py_ssize_t ntests;
    int nclauses;
    Py_ssize_t off_ptid, off_tid;
    char *out;
    Py_ssize_t out_len, out_cap;
    /* open, creat and openat exits parsed here (parsers 4-8) and the rules decided here:
     * falcolib/_speedups_rules.c owns both */
    struct OpenParse *open;
    struct RuleSet *rules;
} Printer;

/* store a new reference (NULL: an error already set) into a slot */
static inline int
set_slot(PyObject *obj, Py_ssize_t off, PyObject *v)
{
    if (v == NULL)
        return -1;
    PyObject *old = SLOT(obj, off);
    SLOT(obj, off) = v;
    Py_XDECREF(old);
    return 0;
}

#define MAX_PATH_SYSDIG 1024       /* SCAP_MAX_PATH_SIZE (falcolib/state/paths.py MAX_PATH) */
#define PATH_BUF (MAX_PATH_SYSDIG + 16)

/* An open* exit parsed by _speedups_open.c (open_prepare, open_commit), which the rules
 * of _speedups_rules.c read */
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
    /* the other exits parsed here (parsers 12-14: pipe, getrlimit/setrlimit, fcntl):
     * set up once, then what exit_prepare found and exit_commit applies */
    long long fd_fifo, rlimit_nofile, f_dupfd, f_dupfd_cloexec;
    Py_ssize_t off_fdlimit;
    int xapply;             /* something to write beyond ``invalidate`` */
    unsigned char xparser;
    long long xfd[2];       /* pipe: its two fds */
    unsigned long long xino;
    PyObject *xmain;        /* getrlimit: the main thread whose fdlimit is set (borrowed) */
    long long xlimit;
    /* socket exits (parser 15, socket_parsers.add_socket): the constants it reads, set up
     * once (AF_*, FD_* types, L4_* values, IPPROTO_*, SOCK_*), and the fd found */
    long long af_unix, af_inet, af_inet6, af_netlink, fd_unix, fd_netlink;
    long long l4_unknown, l4_tcp, l4_udp, l4_icmp, l4_raw;
    long long ipproto_ip, ipproto_icmp, ipproto_tcp, ipproto_udp, ipproto_raw;
    long long sock_stream, sock_dgram, sock_raw;
    Py_ssize_t off_fd_l4proto, off_fd_sip;
    long long xtype, xl4;
    int xinet;              /* 4 or 6: an ip socket (l4proto, sip and dip set), else 0 */
};

/* the codes of the parsers run in C (events_fast._c_parsed) */
enum { P_CLOSE_E = 1, P_CLOSE_X = 2, P_RW = 3, P_OPEN = 4, P_CREAT = 5, P_OPENAT = 6,
       P_OPENAT_2 = 7, P_OPENAT2 = 8, P_SENDTO_E = 9, P_CONNECT_E = 10, P_PROCEXIT = 11,
       P_PIPE = 12, P_RLIMIT = 13, P_FCNTL = 14, P_SOCKET = 15, P_SOCK_IO = 16 };


/* shared by the files (defined in _speedups.c) */
int member_offset(PyTypeObject *type, const char *name, Py_ssize_t *off);
int lookup_fd(Printer *self, PyObject *th, long long fdnum, PyObject **fd);
PyObject *find_thread(Printer *self, int64_t tid);
int test_subject(Printer *self, int whose, int n, PyObject *thread, PyObject **out);
int wildcard(const char *p, Py_ssize_t pn, const char *s, Py_ssize_t sn);
int plain_ascii(const char *s, Py_ssize_t n);

/* defined in _speedups_open.c */
int open_init(Printer *self, PyObject *cfg);
int open_prepare(Printer *self, const unsigned char *blk, PyObject *thread, unsigned char parser);
int open_commit(Printer *self, PyObject *thread);
void open_release(Printer *self);
void open_free(Printer *self);
int exit_prepare(Printer *self, const unsigned char *blk, PyObject *thread, PyObject *fd,
                 unsigned char parser);
int exit_commit(Printer *self, PyObject *thread);

/* defined in _speedups_rules.c */
int rules_init(Printer *self, PyObject *spec);
int rules_decide(Printer *self, const unsigned char *blk, uint64_t num, PyObject *thread);
int rules_has(Printer *self, unsigned t);
void rules_free(Printer *self);
PyObject *Printer_decide(Printer *self, PyObject *args);

#endif
