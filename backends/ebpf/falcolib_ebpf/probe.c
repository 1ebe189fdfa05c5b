/* falcolib eBPF probe: syscall exit tracepoints -> Falco driver-encoded events.
 *
 * Compiled by bcc at start. The loader prepends #defines with:
 *   - kernel struct offsets (O_*) read from the running kernel's BTF,
 *   - limits and options (MAXEV, RING_PAGES, SNAPLEN, SELF_TGID, BOOT_TO_EPOCH_NS),
 * and appends one handler per hooked syscall, generated from syscalls.py.
 *
 * Each handler runs at the syscall's exit and reads the arguments from the
 * task's saved registers, so one tracepoint per syscall is enough. It writes
 * the enter event (when wanted) and the exit event back to back into a
 * per-CPU scratch buffer and submits both as one ring-buffer record, followed
 * by a u16 with the CPU number. Nothing of the kernel's headers is relied on
 * for layouts: every struct is read by byte offset.
 */

#define HDR_LEN 26
#define REC_MAX (MAXEV)
#define EV_MASK (MAXEV - 1)
#define PATH_MAX_ 4096
#define MAX_COMPONENTS 48
#define MAX_CG_DEPTH 12

/* Builder state lives in map memory, not on the stack: the verifier does not
 * track values loaded from maps, so records of every length share one
 * verifier state instead of multiplying states at each variable-length write. */
struct evb {
    volatile u32 start;  /* offset of this event's header in the record */
    volatile u32 off;    /* next write offset in the record */
    volatile u32 idx;    /* next parameter index */
    volatile u32 n;      /* parameters declared */
    volatile u32 w;      /* cursor of multi-part writes (paths) */
    volatile u32 cnt;    /* path components collected */
    u16 type;
    u64 ts;
};

struct scratch_t {
    u8 buf[2 * MAXEV];
    u64 comp[MAX_COMPONENTS];
    struct evb ev;
};

BPF_RINGBUF_OUTPUT(events, RING_PAGES);
BPF_ARRAY(scratch, struct scratch_t, NCPUS);  /* too large for a per-CPU map */
BPF_PERCPU_ARRAY(counters, u64, N_COUNTERS);
/* per syscall slot: bit0 hooked-and-wanted exit, bit1 emit enter, bit2 drop failed */
BPF_ARRAY(settings, u32, N_SLOTS);

/* counter indexes (mirrored in program.py) */
#define C_SEEN 0
#define C_FILTERED_FAILED 1
#define C_FILTERED_SELF 2
#define C_EMITTED 3
#define C_RING_FULL 4
#define C_TOO_BIG 5
#define C_FILTERED_TYPE 6

#define F_EXIT 1
#define F_ENTER 2
#define F_DROP_FAILED 4

static __always_inline void count(u32 idx) {
    u64 *v = counters.lookup(&idx);
    if (v)
        *v += 1;
}

/* ---- kernel reads ---- */
#define RDK(type, base, off) ({ type _v = 0; bpf_probe_read_kernel(&_v, sizeof(type), (void *)(base) + (off)); _v; })
#define RDP(base, off) RDK(u64, base, off)


/* a masked index into the scratch buffer; the barrier keeps clang from
 * dropping the mask when it can prove a bound the verifier cannot */
static __always_inline u32 bidx(u32 x) {
    asm volatile("" : "+r"(x));
    return x & EV_MASK;
}
/* the record buffer is the start of the scratch value holding the builder */
#define EB(e) ((u8 *)(e) - __builtin_offsetof(struct scratch_t, ev))
#define AT(e, x) (EB(e) + bidx(x))
#define CLAMP(x, m) ({ u32 _x = (x); asm volatile("" : "+r"(_x)); _x & (m); })

static __always_inline u64 now_ns(void) {
    return bpf_ktime_get_boot_ns() + BOOT_TO_EPOCH_NS;
}

static __always_inline void ev_begin(struct evb *e, u16 type, u32 nparams) {
    e->start = e->off;
    e->type = type;
    e->n = nparams;
    e->idx = 0;
    e->off = e->start + HDR_LEN + 2 * nparams;
}

static __always_inline void set_len(struct evb *e, u32 len) {
    *(u16 *)AT(e, e->start + HDR_LEN + 2 * e->idx) = (u16)len;
    e->idx += 1;
    e->off += len;
}

static __always_inline void ev_end(struct evb *e) {
    u32 p = e->start;
    u64 tid = bpf_get_current_pid_tgid() & 0xffffffff;
    *(u64 *)AT(e, p) = e->ts;
    *(u64 *)(AT(e, p + 8)) = tid;
    *(u32 *)(AT(e, p + 16)) = e->off - e->start;
    *(u16 *)(AT(e, p + 20)) = e->type;
    *(u32 *)(AT(e, p + 22)) = e->n;
}

static __always_inline void put_u8(struct evb *e, u8 v) { *(u8 *)(AT(e, e->off)) = v; set_len(e, 1); }
static __always_inline void put_u16(struct evb *e, u16 v) { *(u16 *)(AT(e, e->off)) = v; set_len(e, 2); }
static __always_inline void put_u32(struct evb *e, u32 v) { *(u32 *)(AT(e, e->off)) = v; set_len(e, 4); }
static __always_inline void put_u64(struct evb *e, u64 v) { *(u64 *)(AT(e, e->off)) = v; set_len(e, 8); }
static __always_inline void put_empty(struct evb *e) { set_len(e, 0); }
/* PT_DYN: a one-byte index saying which type follows, then a 64-bit value */
static __always_inline void put_dyn(struct evb *e, u8 idx, u64 v) {
    u8 *p = AT(e, e->off);
    p[0] = idx;
    *(u64 *)(p + 1) = v;
    set_len(e, 9);
}

static __always_inline u32 room(struct evb *e, u32 want) {
    u32 used = e->off;
    if (used >= REC_MAX - 64)
        return 0;
    u32 r = REC_MAX - 64 - used;
    return r < want ? r : want;
}

/* a NUL-terminated string from user memory; empty (len 0) if unreadable */
static __always_inline void put_ustr(struct evb *e, u64 uptr, u32 maxlen) {
    u32 r = room(e, maxlen);
    long n = 0;
    if (uptr && r > 1) {
        r = CLAMP(r, PATH_MAX_ * 2 - 1);
        n = bpf_probe_read_user_str(AT(e, e->off), r, (void *)uptr);
    }
    set_len(e, n > 0 ? (u32)n : 0);
}

static __always_inline void put_kstr(struct evb *e, u64 kptr, u32 maxlen) {
    u32 r = room(e, maxlen);
    long n = 0;
    if (kptr && r > 1) {
        r = CLAMP(r, PATH_MAX_ * 2 - 1);
        n = bpf_probe_read_kernel_str(AT(e, e->off), r, (void *)kptr);
    }
    set_len(e, n > 0 ? (u32)n : 0);
}

static __always_inline void put_ubytes(struct evb *e, u64 uptr, u64 len) {
    u32 r = room(e, len > PATH_MAX_ ? PATH_MAX_ : (u32)len);
    long ok = -1;
    r = CLAMP(r, PATH_MAX_ * 2 - 1);
    if (uptr && r > 0)
        ok = bpf_probe_read_user(AT(e, e->off), r, (void *)uptr);
    set_len(e, ok == 0 ? r : 0);
}

/* submit the record built so far (one or two events) plus the CPU trailer */
static __always_inline void submit(struct evb *e) {
    u32 size = e->off;
    if (size > REC_MAX - 2) {
        count(C_TOO_BIG);
        return;
    }
    asm volatile("" : "+r"(size));
    size &= EV_MASK;
    *(u16 *)(EB(e) + size) = (u16)bpf_get_smp_processor_id();
    size += 2;
    asm volatile("" : "+r"(size));
    if (size > REC_MAX)
        return;
    if (events.ringbuf_output(EB(e), size, RB_FLAGS) != 0)
        count(C_RING_FULL);
    else
        count(C_EMITTED);
}

/* ---- tasks, files, paths ---- */
static __always_inline u64 cur_task(void) { return (u64)bpf_get_current_task(); }

static __always_inline u64 fd_to_file(u64 task, s64 fd) {
    if (fd < 0)
        return 0;
    u64 files = RDP(task, O_TASK_FILES);
    u64 fdt = RDP(files, O_FILES_FDT);
    u32 max = RDK(u32, fdt, O_FDT_MAX_FDS);
    if ((u64)fd >= max)
        return 0;
    u64 arr = RDP(fdt, O_FDT_FD);
    return RDP(arr, fd * 8);
}

static __always_inline u32 encode_dev(u32 kdev) {
    u32 major = kdev >> 20, minor = kdev & 0xfffff;
    return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

static __always_inline u32 file_dev(u64 file) {
    u64 inode = RDP(file, O_FILE_INODE);
    u64 sb = RDP(inode, O_INODE_SB);
    return encode_dev(RDK(u32, sb, O_SB_DEV));
}

static __always_inline u64 file_ino(u64 file) {
    u64 inode = RDP(file, O_FILE_INODE);
    return RDP(inode, O_INODE_INO);
}

/* Path of (mnt, dentry) from the root, written as one string parameter.
 * Walks up to MAX_COMPONENTS names, crossing mount points. */
static __always_inline void put_dpath(struct evb *e, u64 *comp, u64 vfsmnt, u64 dentry) {
    u64 mnt = vfsmnt - O_MOUNT_MNT;  /* struct mount embeds the vfsmount */
    e->cnt = 0;
    for (int i = 0; i < MAX_COMPONENTS; i++) {
        u64 root = RDP(vfsmnt, O_VFSMOUNT_ROOT);
        u64 parent = RDP(dentry, O_DENTRY_PARENT);
        if (dentry == root || dentry == parent) {
            u64 mparent = RDP(mnt, O_MOUNT_PARENT);
            if (mparent == mnt || mparent == 0)
                break;
            dentry = RDP(mnt, O_MOUNT_MOUNTPOINT);
            mnt = mparent;
            vfsmnt = mnt + O_MOUNT_MNT;
            continue;
        }
        comp[e->cnt & (MAX_COMPONENTS - 1)] = RDP(dentry, O_DENTRY_NAME);
        e->cnt += 1;
        dentry = parent;
    }
    if (room(e, 2) < 2) {
        set_len(e, 0);
        return;
    }
    e->w = e->off;
    if (e->cnt == 0) {
        *AT(e, e->w) = '/';
        e->w += 1;
    }
    for (int j = 0; j < MAX_COMPONENTS; j++) {
        u32 n = e->cnt;
        if ((u32)j >= n || e->w >= REC_MAX - 320)
            break;
        u32 k = (n - 1 - j) & (MAX_COMPONENTS - 1);
        *AT(e, e->w) = '/';
        e->w += 1;
        long got = bpf_probe_read_kernel_str(AT(e, e->w), 256, (void *)comp[k]);
        e->w += ((u32)got - 1) & 0xff;
    }
    *AT(e, e->w) = 0;
    e->w += 1;
    set_len(e, e->w - e->off);
}

static __always_inline void put_file_path(struct evb *e, u64 *comp, u64 file) {
    if (!file) {
        set_len(e, 0);
        return;
    }
    put_dpath(e, comp, RDP(file, O_FILE_PATH_MNT), RDP(file, O_FILE_PATH_DENTRY));
}

/* ---- sockets ---- */
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10

static __always_inline u64 fd_to_sock(u64 task, s64 fd) {
    u64 file = fd_to_file(task, fd);
    if (!file)
        return 0;
    u64 inode = RDP(file, O_FILE_INODE);
    u16 mode = RDK(u16, inode, O_INODE_MODE);
    if ((mode & 0170000) != 0140000)
        return 0;
    u64 sock = RDP(file, O_FILE_PRIVATE);
    return RDP(sock, O_SOCKET_SK);
}

/* PT_SOCKTUPLE from a socket: client side first (inbound swaps local/peer) */
/* user sockaddr ``ua`` of ``family``: its port (network order) and address at ``addr``
 * (4 or 16 bytes); 0 when it is absent or of another family */
static __always_inline int user_peer(u64 ua, u16 family, u16 *port, void *addr) {
    u16 f = 0;
    if (!ua || bpf_probe_read_user(&f, 2, (void *)ua) || f != family)
        return 0;
    bpf_probe_read_user(port, 2, (void *)ua + 2);
    if (family == AF_INET_)
        bpf_probe_read_user(addr, 4, (void *)ua + 4);
    else
        bpf_probe_read_user(addr, 16, (void *)ua + 8);
    return 1;
}

/* the address of a user msghdr's msg_name (0 if none) */
static __always_inline u64 msg_name(u64 umsg) {
    u64 name = 0;
    if (umsg)
        bpf_probe_read_user(&name, 8, (void *)umsg);
    return name;
}

/* PT_SOCKTUPLE of socket ``sk``; ``ua``, a user sockaddr (sendto's destination,
 * recvfrom's source), names the remote end instead of the socket's peer, as the libs
 * drivers do for the calls of an unconnected (UDP) socket */
static __always_inline void put_tuple(struct evb *e, u64 sk, int inbound, u64 ua) {
    if (!sk || room(e, 160) < 160) {
        set_len(e, 0);
        return;
    }
    u16 family = RDK(u16, sk, O_SK_FAMILY);
    u8 *p = AT(e, e->off);
    if (family == AF_INET_) {
        u32 laddr = RDK(u32, sk, O_SK_RCV_SADDR), raddr = RDK(u32, sk, O_SK_DADDR);
        u16 lport = RDK(u16, sk, O_SK_NUM), rport = RDK(u16, sk, O_SK_DPORT);
        u16 uport = 0;
        u32 uaddr = 0;
        if (user_peer(ua, AF_INET_, &uport, &uaddr)) {
            raddr = uaddr;
            rport = uport;
        }
        rport = (rport >> 8) | (rport << 8);
        p[0] = AF_INET_;
        if (inbound) {
            *(u32 *)(p + 1) = raddr; *(u16 *)(p + 5) = rport;
            *(u32 *)(p + 7) = laddr; *(u16 *)(p + 11) = lport;
        } else {
            *(u32 *)(p + 1) = laddr; *(u16 *)(p + 5) = lport;
            *(u32 *)(p + 7) = raddr; *(u16 *)(p + 11) = rport;
        }
        set_len(e, 13);
    } else if (family == AF_INET6_) {
        u16 lport = RDK(u16, sk, O_SK_NUM), rport = RDK(u16, sk, O_SK_DPORT);
        u8 uaddr[16] = {};
        u16 uport = 0;
        int from_user = user_peer(ua, AF_INET6_, &uport, uaddr);
        if (from_user)
            rport = uport;
        rport = (rport >> 8) | (rport << 8);
        p[0] = AF_INET6_;
        if (inbound) {
            bpf_probe_read_kernel(p + 1, 16, (void *)sk + O_SK_V6_DADDR); *(u16 *)(p + 17) = rport;
            bpf_probe_read_kernel(p + 19, 16, (void *)sk + O_SK_V6_RCV_SADDR); *(u16 *)(p + 35) = lport;
            if (from_user)
                __builtin_memcpy(p + 1, uaddr, 16);
        } else {
            bpf_probe_read_kernel(p + 1, 16, (void *)sk + O_SK_V6_RCV_SADDR); *(u16 *)(p + 17) = lport;
            bpf_probe_read_kernel(p + 19, 16, (void *)sk + O_SK_V6_DADDR); *(u16 *)(p + 35) = rport;
            if (from_user)
                __builtin_memcpy(p + 19, uaddr, 16);
        }
        set_len(e, 37);
    } else if (family == AF_UNIX_) {
        u64 peer = RDP(sk, O_UNIX_PEER);
        p[0] = AF_UNIX_;
        *(u64 *)(p + 1) = sk;
        *(u64 *)(p + 9) = peer;
        u64 addr = RDP(peer ? peer : sk, O_UNIX_ADDR);
        long got = 0;
        if (addr)
            got = bpf_probe_read_kernel_str(p + 17, 108, (void *)addr + O_UNIX_ADDR_NAME + 2);
        if (got <= 0) {
            p[17] = 0;
            got = 1;
        }
        set_len(e, 17 + (u32)got);
    } else {
        p[0] = (u8)family;
        set_len(e, 1);
    }
}

/* PT_SOCKADDR from a user sockaddr */
static __always_inline void put_usockaddr(struct evb *e, u64 uaddr, u64 ulen) {
    if (!uaddr || ulen < 2 || room(e, 130) < 130) {
        set_len(e, 0);
        return;
    }
    u8 *p = AT(e, e->off);
    u16 family = 0;
    bpf_probe_read_user(&family, 2, (void *)uaddr);
    if (family == AF_INET_) {
        u16 port = 0;
        bpf_probe_read_user(&port, 2, (void *)uaddr + 2);
        p[0] = AF_INET_;
        bpf_probe_read_user(p + 1, 4, (void *)uaddr + 4);
        *(u16 *)(p + 5) = (port >> 8) | (port << 8);
        set_len(e, 7);
    } else if (family == AF_INET6_) {
        u16 port = 0;
        bpf_probe_read_user(&port, 2, (void *)uaddr + 2);
        p[0] = AF_INET6_;
        bpf_probe_read_user(p + 1, 16, (void *)uaddr + 8);
        *(u16 *)(p + 17) = (port >> 8) | (port << 8);
        set_len(e, 19);
    } else if (family == AF_UNIX_) {
        p[0] = AF_UNIX_;
        long got = bpf_probe_read_user_str(p + 1, 108, (void *)uaddr + 2);
        if (got <= 0) {
            p[1] = 0;
            got = 1;
        }
        set_len(e, 1 + (u32)got);
    } else {
        p[0] = (u8)family;
        set_len(e, 1);
    }
}

/* ---- flag conversions to the driver's PPM_* values ---- */
static __always_inline u32 open_flags(u64 f) {
    u32 r = 0;
    u32 acc = f & 3;
    if (acc == 0) r |= 1;
    else if (acc == 1) r |= 2;
    else if (acc == 2) r |= 3;
    if (f & 0100) r |= 1 << 2;         /* O_CREAT */
    if (f & 02000) r |= 1 << 3;        /* O_APPEND */
    if (f & 010000) r |= 1 << 4;       /* O_DSYNC */
    if (f & 0200) r |= 1 << 5;         /* O_EXCL */
    if (f & 04000) r |= 1 << 6;        /* O_NONBLOCK */
    if (f & 04000000) r |= 1 << 7;     /* O_SYNC */
    if (f & 01000) r |= 1 << 8;        /* O_TRUNC */
    if (f & 040000) r |= 1 << 9;       /* O_DIRECT */
    if (f & 0200000) r |= 1 << 10;     /* O_DIRECTORY */
    if (f & 0100000) r |= 1 << 11;     /* O_LARGEFILE */
    if (f & 02000000) r |= 1 << 12;    /* O_CLOEXEC */
    if (f & 020000000) r |= 1 << 13;   /* O_TMPFILE */
    return r;
}

static __always_inline u32 open_mode(u64 flags, u64 mode) {
    /* the driver reports the mode only when the file may be created */
    if (flags & (0100 | 020000000))
        return mode & 07777;
    return 0;
}

static __always_inline u32 clone_flags(u64 f) {
    u32 r = 0;
    if (f & 0x400) r |= 1 << 0;        /* FILES */
    if (f & 0x200) r |= 1 << 1;        /* FS */
    if (f & 0x80000000) r |= 1 << 2;   /* IO */
    if (f & 0x8000000) r |= 1 << 3;    /* NEWIPC */
    if (f & 0x40000000) r |= 1 << 4;   /* NEWNET */
    if (f & 0x20000) r |= 1 << 5;      /* NEWNS */
    if (f & 0x20000000) r |= 1 << 6;   /* NEWPID */
    if (f & 0x4000000) r |= 1 << 7;    /* NEWUTS */
    if (f & 0x8000) r |= 1 << 8;       /* PARENT */
    if (f & 0x100000) r |= 1 << 9;     /* PARENT_SETTID */
    if (f & 0x2000) r |= 1 << 10;      /* PTRACE */
    if (f & 0x800) r |= 1 << 11;       /* SIGHAND */
    if (f & 0x40000) r |= 1 << 12;     /* SYSVSEM */
    if (f & 0x10000) r |= 1 << 13;     /* THREAD */
    if (f & 0x800000) r |= 1 << 14;    /* UNTRACED */
    if (f & 0x100) r |= 1 << 15;       /* VM */
    if (f & 0x10000000) r |= 1 << 20;  /* NEWUSER */
    if (f & 0x200000) r |= 1 << 23;    /* CHILD_CLEARTID */
    if (f & 0x1000000) r |= 1 << 24;   /* CHILD_SETTID */
    if (f & 0x80000) r |= 1 << 25;     /* SETTLS */
    if (f & 0x4000) r |= 1 << 27;      /* VFORK */
    if (f & 0x2000000) r |= 1 << 28;   /* NEWCGROUP */
    return r;
}

static __always_inline u8 fcntl_cmd(u64 c) {
    switch (c) {
    case 0: return 1; case 1: return 2; case 2: return 3; case 3: return 4; case 4: return 5;
    case 5: return 6; case 6: return 8; case 7: return 9; case 8: return 10; case 9: return 12;
    case 10: return 13; case 11: return 15; case 15: return 21; case 16: return 22;
    case 36: return 30; case 37: return 31; case 38: return 32; case 1024: return 23;
    case 1025: return 24; case 1026: return 27; case 1029: return 25; case 1030: return 26;
    case 1031: return 28; case 1032: return 29;
    }
    return 0;
}

static __always_inline u32 resolve_flags(u64 f) {
    u32 r = 0;
    if (f & 0x08) r |= 1 << 0;  /* BENEATH */
    if (f & 0x10) r |= 1 << 1;  /* IN_ROOT */
    if (f & 0x02) r |= 1 << 2;  /* NO_MAGICLINKS */
    if (f & 0x04) r |= 1 << 3;  /* NO_SYMLINKS */
    if (f & 0x01) r |= 1 << 4;  /* NO_XDEV */
    if (f & 0x20) r |= 1 << 5;  /* CACHED */
    return r;
}

static __always_inline u32 execveat_flags(u64 f) {
    u32 r = 0;
    if (f & 0x1000) r |= 1 << 0;  /* AT_EMPTY_PATH */
    if (f & 0x100) r |= 1 << 1;   /* AT_SYMLINK_NOFOLLOW */
    return r;
}

static __always_inline u32 mount_flags(u64 f) {
    if ((f & 0xffff0000) == 0xC0ED0000)
        f &= 0xffff;
    return (u32)f;
}

static __always_inline u16 ptrace_req(u64 r) {
    if (r <= 9) return (u16)(r + 1);          /* TRACEME..SINGLESTEP */
    switch (r) {
    case 12: return 26; case 13: return 27; case 14: return 28; case 15: return 29;
    case 16: return 11; case 17: return 12; case 18: return 30; case 19: return 31;
    case 21: return 32; case 24: return 13; case 25: return 33; case 26: return 34;
    case 30: return 35; case 31: return 36; case 32: return 37; case 33: return 38;
    case 0x4200: return 14; case 0x4201: return 15; case 0x4202: return 16;
    case 0x4203: return 17; case 0x4204: return 18; case 0x4205: return 19;
    case 0x4206: return 20; case 0x4207: return 21; case 0x4208: return 22;
    case 0x4209: return 23; case 0x420a: return 24; case 0x420b: return 25;
    }
    return 0;
}

/* ---- process information shared by execve and clone exits ---- */
static __always_inline s64 pid_vnr(u64 pidp) {
    /* the pid number in the pid's own (deepest) namespace */
    if (!pidp)
        return 0;
    u32 level = RDK(u32, pidp, O_PID_LEVEL);
    return RDK(s32, pidp, O_PID_NUMBERS + (u64)(level & 31) * UPID_SIZE);
}

static __always_inline s64 task_vtid(u64 task) { return pid_vnr(RDP(task, O_TASK_THREAD_PID)); }

static __always_inline s64 task_vpid(u64 task) {
    u64 leader = RDP(task, O_TASK_GROUP_LEADER);
    return pid_vnr(RDP(leader, O_TASK_THREAD_PID));
}

static __always_inline u32 task_pidns_level(u64 task) {
    u64 pidp = RDP(task, O_TASK_THREAD_PID);
    return RDK(u32, pidp, O_PID_LEVEL);
}

static __always_inline void put_mm_area(struct evb *e, u64 mm, u32 start_off, u32 end_off, u32 skip_first) {
    /* argv / envp area of mm: bytes [start, end), optionally after its first string */
    u64 start = RDP(mm, start_off), end = RDP(mm, end_off);
    if (!mm || end <= start) {
        set_len(e, 0);
        return;
    }
    if (skip_first) {
        u32 r = room(e, PATH_MAX_);
        long n = 0;
        r = CLAMP(r, PATH_MAX_ * 2 - 1);
        if (r > 1)
            n = bpf_probe_read_user_str(AT(e, e->off), r, (void *)start);
        if (n <= 0) {
            set_len(e, 0);
            return;
        }
        start += n;
    }
    u64 len = end > start ? end - start : 0;
    put_ubytes(e, start, len);
}

static __always_inline void put_exe_first(struct evb *e, u64 mm) {
    u64 start = mm ? RDP(mm, O_MM_ARG_START) : 0;
    put_ustr(e, start, PATH_MAX_);
}

static __always_inline void put_cgroups(struct evb *e, u64 *comp, u64 task) {
    /* "subsys=/path\0" for the subsystems the state engine reads */
    u64 css_set = RDP(task, O_TASK_CGROUPS);
    e->w = e->off;
    #pragma unroll
    for (int s = 0; s < N_CG_SUBSYS; s++) {
        u32 sid = 0, nlen = 0;
        u64 name = 0;  /* the subsystem name, packed little-endian (at most 8 chars) */
        CG_SUBSYS_SWITCH
        u64 css = RDP(css_set, O_CSS_SET_SUBSYS + (u64)sid * 8);
        u64 cg = RDP(css, O_CSS_CGROUP);
        u64 kn = RDP(cg, O_CGROUP_KN);
        e->cnt = 0;
        for (int i = 0; i < MAX_CG_DEPTH; i++) {
            u64 parent = RDP(kn, O_KN_PARENT);
            if (!kn || !parent)
                break;
            comp[e->cnt & (MAX_COMPONENTS - 1)] = RDP(kn, O_KN_NAME);
            e->cnt += 1;
            kn = parent;
        }
        if (!css || e->w >= REC_MAX - 1024)
            continue;
        *(u64 *)AT(e, e->w) = name;
        e->w += nlen;
        *AT(e, e->w) = '=';
        e->w += 1;
        if (e->cnt == 0) {
            *AT(e, e->w) = '/';
            e->w += 1;
        }
        for (int j = 0; j < MAX_CG_DEPTH; j++) {
            u32 n = e->cnt;
            if ((u32)j >= n)
                break;
            u32 k = (n - 1 - j) & (MAX_COMPONENTS - 1);
            *AT(e, e->w) = '/';
            e->w += 1;
            long g = bpf_probe_read_kernel_str(AT(e, e->w), 256, (void *)comp[k]);
            e->w += ((u32)g - 1) & 0xff;
        }
        *AT(e, e->w) = 0;
        e->w += 1;
    }
    set_len(e, e->w - e->off);
}

static __always_inline u32 task_tty(u64 task) {
    u64 sig = RDP(task, O_TASK_SIGNAL);
    u64 tty = RDP(sig, O_SIGNAL_TTY);
    if (!tty)
        return 0;
    u64 drv = RDP(tty, O_TTY_DRIVER);
    s32 index = RDK(s32, tty, O_TTY_INDEX);
    s32 major = RDK(s32, drv, O_TTYDRV_MAJOR);
    s32 minor = RDK(s32, drv, O_TTYDRV_MINOR_START) + index;
    return encode_dev(((u32)major << 20) | (u32)minor);
}

static __always_inline u64 task_fdlimit(u64 task) {
    u64 sig = RDP(task, O_TASK_SIGNAL);
    return RDP(sig, O_SIGNAL_RLIM + 7 * 16);  /* RLIMIT_NOFILE.rlim_cur */
}

static __always_inline s64 task_ptid(u64 task) {
    u64 parent = RDP(task, O_TASK_REAL_PARENT);
    return RDK(s32, parent, O_TASK_PID);
}

static __always_inline s64 task_tgid(u64 task) { return RDK(s32, task, O_TASK_TGID); }

static __always_inline void put_comm(struct evb *e, u64 task) {
    u32 r = room(e, 16);
    long n = 0;
    if (r >= 16)
        n = bpf_probe_read_kernel_str(AT(e, e->off), 16, (void *)task + O_TASK_COMM);
    set_len(e, n > 0 ? (u32)n : 0);
}

static __always_inline void put_cwd(struct evb *e, u64 *comp, u64 task) {
    u64 fs = RDP(task, O_TASK_FS);
    if (!fs) {
        set_len(e, 0);
        return;
    }
    put_dpath(e, comp, RDP(fs, O_FS_PWD_MNT), RDP(fs, O_FS_PWD_DENTRY));
}

/* the process part shared by execve and clone exit events: exe .. comm, cgroups */
static __always_inline void put_proc_head(struct evb *e, u64 *comp, u64 task, u64 mm) {
    put_exe_first(e, mm);                                        /* exe */
    put_mm_area(e, mm, O_MM_ARG_START, O_MM_ARG_END, 1);         /* args */
    put_u64(e, RDK(s32, task, O_TASK_PID));                      /* tid */
    put_u64(e, task_tgid(task));                                 /* pid */
    put_u64(e, task_ptid(task));                                 /* ptid */
    put_cwd(e, comp, task);                                      /* cwd */
    put_u64(e, task_fdlimit(task));                              /* fdlimit */
    put_u64(e, RDP(task, O_TASK_MAJ_FLT));                       /* pgft_maj */
    put_u64(e, RDP(task, O_TASK_MIN_FLT));                       /* pgft_min */
    put_u32(e, mm ? (u32)(RDP(mm, O_MM_TOTAL_VM) << 2) : 0);     /* vm_size (kB) */
    put_u32(e, 0);                                               /* vm_rss */
    put_u32(e, 0);                                               /* vm_swap */
    put_comm(e, task);                                           /* comm */
    put_cgroups(e, comp, task);                                  /* cgroups */
}

static __always_inline u64 ns_time(u64 base, u32 sec_off, u32 nsec_off) {
    s64 sec = RDK(s64, base, sec_off);
    u32 nsec = RDK(u32, base, nsec_off);
    return (u64)sec * 1000000000ULL + nsec;
}

/* PPM_EXE_UPPER_LAYER or PPM_EXE_LOWER_LAYER for an exe on overlayfs (a container's
 * image is the lower layer; a file written in the container is on the upper one), as
 * the libs drivers decide it: the overlay inode's upper dentry has an inode */
static __always_inline u32 exe_layer(u64 dentry) {
    if (!O_OVL_UPPER || !dentry)
        return 0;
    u64 sb = RDP(dentry, O_DENTRY_SB);
    if (!sb || RDP(sb, O_SB_MAGIC) != 0x794c7630ULL)             /* OVERLAYFS_SUPER_MAGIC */
        return 0;
    u64 vfs_inode = RDP(dentry, O_DENTRY_INODE);
    u64 upper = vfs_inode ? RDP(vfs_inode, O_OVL_UPPER) : 0;
    u64 upper_inode = upper ? RDP(upper, O_DENTRY_INODE) : 0;
    if (upper_inode && RDP(upper_inode, O_INODE_INO))
        return 1 << 1;                                           /* PPM_EXE_UPPER_LAYER */
    return 1 << 3;                                               /* PPM_EXE_LOWER_LAYER */
}

/* execve/execveat exit parameters 15.. (env .. gid) */
static __always_inline void put_execve_tail(struct evb *e, u64 *comp, u64 task, u64 mm) {
    u64 cred = RDP(task, O_TASK_CRED);
    u64 sig = RDP(task, O_TASK_SIGNAL);
    u64 pgrp = RDP(sig, O_SIGNAL_PIDS + 2 * 8);                  /* PIDTYPE_PGID */
    u64 exe = mm ? RDP(mm, O_MM_EXE_FILE) : 0;
    u64 inode = exe ? RDP(exe, O_FILE_INODE) : 0;
    u32 euid = RDK(u32, cred, O_CRED_EUID);
    u32 flags = 0;
    if (exe) {
        u64 dentry = RDP(exe, O_FILE_PATH_DENTRY);
        char nm[8] = {};
        bpf_probe_read_kernel_str(nm, sizeof(nm), (void *)RDP(dentry, O_DENTRY_NAME));
        if (nm[0] == 'm' && nm[1] == 'e' && nm[2] == 'm' && nm[3] == 'f' && nm[4] == 'd' && nm[5] == ':')
            flags |= 1 << 2;                                     /* PPM_EXE_FROM_MEMFD */
        u16 mode = RDK(u16, inode, O_INODE_MODE);
        u32 iuid = RDK(u32, inode, O_INODE_UID);
        if ((mode & 02) || (iuid == euid && (mode & 0200)) || euid == 0)
            flags |= 1 << 0;                                     /* PPM_EXE_WRITABLE */
        flags |= exe_layer(dentry);
    }
    put_mm_area(e, mm, O_MM_ENV_START, O_MM_ENV_END, 0);         /* env */
    put_u32(e, task_tty(task));                                  /* tty */
    put_u64(e, pid_vnr(pgrp));                                   /* vpgid */
    put_u32(e, RDK(u32, task, O_TASK_LOGINUID));                 /* loginuid */
    put_u32(e, flags);                                           /* flags */
    put_u64(e, RDP(cred, O_CRED_CAP_INH));                       /* cap_inheritable */
    put_u64(e, RDP(cred, O_CRED_CAP_PRM));                       /* cap_permitted */
    put_u64(e, RDP(cred, O_CRED_CAP_EFF));                       /* cap_effective */
    put_u64(e, inode ? RDP(inode, O_INODE_INO) : 0);             /* exe_ino */
    put_u64(e, inode ? ns_time(inode, O_INODE_CTIME_SEC, O_INODE_CTIME_NSEC) : 0);
    put_u64(e, inode ? ns_time(inode, O_INODE_MTIME_SEC, O_INODE_MTIME_NSEC) : 0);
    put_u32(e, euid);                                            /* uid */
    put_file_path(e, comp, exe);                                 /* trusted_exepath */
    put_u64(e, RDK(s32, pgrp, O_PID_NUMBERS));                   /* pgid */
    put_u32(e, RDK(u32, cred, O_CRED_EGID));                     /* gid */
}

/* clone-family exit parameters 15.. (flags .. pidns_init_start_ts) */
static __always_inline void put_clone_tail(struct evb *e, u64 task, u64 raw_flags) {
    u64 cred = RDP(task, O_TASK_CRED);
    u32 flags = clone_flags(raw_flags);
    if (task_pidns_level(task) > 0)
        flags |= 1 << 29;                                        /* PPM_CL_CHILD_IN_PIDNS */
    put_u32(e, flags);
    put_u32(e, RDK(u32, cred, O_CRED_EUID));
    put_u32(e, RDK(u32, cred, O_CRED_EGID));
    put_u64(e, task_vtid(task));
    put_u64(e, task_vpid(task));
    put_u64(e, 0);                                               /* pidns_init_start_ts */
}

/* ---- common handler prologue ---- */
struct hctx {
    u64 task;
    u64 regs;
    s64 ret;
    u32 flags;
};

/* A hook whose syscall is switched off (muted at stop, or between two configurations)
 * counts C_FILTERED_TYPE only: C_SEEN and the outcomes it splits into stay still once a
 * run is muted, so a final read of the counters adds up */
static __always_inline int prologue(struct hctx *h, void *ctx, u32 slot) {
    u32 *f = settings.lookup(&slot);
    if (!f || !(*f & (F_EXIT | F_ENTER))) {
        count(C_FILTERED_TYPE);
        return 0;
    }
    count(C_SEEN);
    h->flags = *f;
    u64 pt = bpf_get_current_pid_tgid();
    if (SELF_TGID && (pt >> 32) == SELF_TGID) {
        count(C_FILTERED_SELF);
        return 0;
    }
    h->ret = RDK(s64, ctx, 16);
    if ((h->flags & F_DROP_FAILED) && h->ret < 0) {
        count(C_FILTERED_FAILED);
        return 0;
    }
    h->task = cur_task();
    h->regs = (u64)bpf_task_pt_regs((void *)bpf_get_current_task_btf());
    return 1;
}

#define ARG(h, i) RDP((h)->regs, ARG_OFF_##i)
#define ARG_OFF_0 112
#define ARG_OFF_1 104
#define ARG_OFF_2 96
#define ARG_OFF_3 56
#define ARG_OFF_4 72
#define ARG_OFF_5 64

static __always_inline struct scratch_t *scratch_buf(void) {
    u32 cpu = bpf_get_smp_processor_id();
    return scratch.lookup(&cpu);
}

#define EARG(ctx, i) RDK(u64, ctx, 16 + 8 * (i))

/* sched_process_exit: the thread's procexit event */
int fx_procexit(void *ctx) {
    u32 slot = PROCEXIT_SLOT;
    u32 *f = settings.lookup(&slot);
    if (!f || !(*f & F_ENTER)) {
        count(C_FILTERED_TYPE);
        return 0;
    }
    count(C_SEEN);
    if (SELF_TGID && (bpf_get_current_pid_tgid() >> 32) == SELF_TGID) {
        count(C_FILTERED_SELF);
        return 0;
    }
    struct scratch_t *sc = scratch_buf();
    if (!sc)
        return 0;
    u64 task = cur_task();
    s32 code = RDK(s32, task, O_TASK_EXIT_CODE);
    struct evb *e = &sc->ev;
    e->off = 0;
    e->ts = now_ns();
    ev_begin(e, 186, 5);
    put_u64(e, (s64)code);
    put_u64(e, (s64)(code >> 8));
    put_u8(e, code & 0x7f);
    put_u8(e, (code & 0x80) ? 1 : 0);
    put_u64(e, 0);
    ev_end(e);
    submit(e);
    return 0;
}
