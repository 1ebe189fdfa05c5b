"""Which syscalls the probe traces and how each becomes driver-encoded events.

Each ``Syscall`` names the kernel's exit tracepoint(s) and, for both the
enter and the exit event, the event type code and the parameters in the
order of Falco's event table. Type codes are those Debian's sysdig 0.29
knows (below 336); parameter lists follow the current libs table, which
only appends parameters to those sysdig 0.29 reads (it reads the first
ones and ignores the rest). Parameters are written by small C snippets
(``OPS``); ``generate_c`` turns the table into one BPF handler per syscall.
"""
from __future__ import annotations

import attrs

# parameter op -> C statement writing it. {a} is the op's argument.
OPS = {
    "res": "put_u64(e, h.ret);",
    "fd": "put_u64(e, (s64)(s32)ARG(&h, {a}));",          # int fd/pid argument, 8 bytes
    "i64": "put_u64(e, ARG(&h, {a}));",
    "i32": "put_u32(e, (u32)ARG(&h, {a}));",
    "u32": "put_u32(e, (u32)ARG(&h, {a}));",
    "u16": "put_u16(e, (u16)ARG(&h, {a}));",
    "u8": "put_u8(e, (u8)ARG(&h, {a}));",
    "zero8": "put_u8(e, 0);",
    "zero16": "put_u16(e, 0);",
    "zero32": "put_u32(e, 0);",
    "zero64": "put_u64(e, 0);",
    "empty": "put_empty(e);",
    "retsize": "put_u32(e, h.ret > 0 ? (u32)h.ret : 0);",
    "ustr": "put_ustr(e, ARG(&h, {a}), PATH_MAX_);",
    "oflags": "put_u32(e, open_flags(ARG(&h, {a})));",
    "omode": "put_u32(e, open_mode(ARG(&h, {f}), ARG(&h, {m})));",
    "mode": "put_u32(e, (u32)ARG(&h, {a}) & 07777);",
    "cflags": "put_u32(e, clone_flags(ARG(&h, {a})));",
    "mflags": "put_u32(e, mount_flags(ARG(&h, {a})));",
    "xflags": "put_u32(e, execveat_flags(ARG(&h, {a})));",
    "preq": "put_u16(e, ptrace_req(ARG(&h, {a})));",
    "dyn64": "put_dyn(e, 0, ARG(&h, {a}));",
    "dev": "{{ u64 f_ = fd_to_file(h.task, h.ret); put_u32(e, f_ ? file_dev(f_) : 0); }}",
    "ino": "{{ u64 f_ = fd_to_file(h.task, h.ret); put_u64(e, f_ ? file_ino(f_) : 0); }}",
    "tuple_out": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {a})), 0, 0);",
    "tuple_in": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {a})), 1, 0);",
    "tuple_res": "put_tuple(e, fd_to_sock(h.task, h.ret), 1, 0);",
    # the remote end from the call's own address when it gives one (unconnected UDP):
    # sendto's destination, recvfrom's source (filled in on success), a msghdr's msg_name
    "tuple_to": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {f})), 0, ARG(&h, {u}));",
    "tuple_from": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {f})), 1, h.ret >= 0 ? ARG(&h, {u}) : 0);",
    "tuple_msg_to": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {f})), 0, msg_name(ARG(&h, {u})));",
    "tuple_msg_from": "put_tuple(e, fd_to_sock(h.task, (s32)ARG(&h, {f})), 1, "
                      "h.ret >= 0 ? msg_name(ARG(&h, {u})) : 0);",
    "sockaddr": "put_usockaddr(e, ARG(&h, {u}), ARG(&h, {n}));",
    "ubuf": "put_ubytes(e, ARG(&h, {u}), ARG(&h, {n}) < SNAPLEN ? ARG(&h, {n}) : SNAPLEN);",
    "rdata": "put_ubytes(e, ARG(&h, {a}), h.ret > 0 ? (h.ret < SNAPLEN ? h.ret : SNAPLEN) : 0);",
    "how_flags": "{{ u64 v_ = 0; bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {a})); put_u32(e, open_flags(v_)); }}",
    "how_mode": "{{ u64 v_[2] = {{}}; bpf_probe_read_user(&v_, 16, (void *)ARG(&h, {a})); "
                "put_u32(e, open_mode(v_[0], v_[1])); }}",
    "how_resolve": "{{ u64 v_ = 0; bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {a}) + 16); "
                   "put_u32(e, resolve_flags(v_)); }}",
    # fd pairs written by the kernel into user memory (pipe, socketpair)
    "ufd": "{{ s32 v_[2] = {{-1, -1}}; if (h.ret >= 0) bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {u})); "
           "put_u64(e, (s64)v_[{i}]); }}",
    "pipe_ino": "{{ s32 v_[2] = {{-1, -1}}; if (h.ret >= 0) bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {a})); "
                "u64 f_ = fd_to_file(h.task, v_[0]); put_u64(e, f_ ? file_ino(f_) : 0); }}",
    "sp_src": "{{ s32 v_[2] = {{-1, -1}}; if (h.ret >= 0) bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {a})); "
              "put_u64(e, fd_to_sock(h.task, v_[0])); }}",
    "sp_peer": "{{ s32 v_[2] = {{-1, -1}}; if (h.ret >= 0) bpf_probe_read_user(&v_, 8, (void *)ARG(&h, {a})); "
               "u64 sk_ = fd_to_sock(h.task, v_[0]); put_u64(e, sk_ ? RDP(sk_, O_UNIX_PEER) : 0); }}",
    "fcntl_cmd": "put_u8(e, fcntl_cmd(ARG(&h, {a})));",
    # whole-event bodies
    "execve": "{ u64 mm_ = RDP(h.task, O_TASK_MM); put_u64(e, h.ret); "
              "put_proc_head(e, sc->comp, h.task, mm_); put_execve_tail(e, sc->comp, h.task, mm_); }",
    "clone": "put_u64(e, h.ret); put_proc_head(e, sc->comp, h.task, RDP(h.task, O_TASK_MM)); "
             "put_clone_tail(e, h.task, {flags});",
}

# argument forms of the ops that take more than one value
_MULTI = {"omode": ("f", "m"), "sockaddr": ("u", "n"), "ufd": ("u", "i"), "ubuf": ("u", "n"),
          "tuple_to": ("f", "u"), "tuple_from": ("f", "u"), "tuple_msg_to": ("f", "u"),
          "tuple_msg_from": ("f", "u")}


@attrs.frozen
class Syscall:
    name: str                      # the evt.type name
    enter: tuple[int, tuple[str, ...]]
    exit: tuple[int, tuple[str, ...]]
    tracepoints: tuple[str, ...] = ()   # exit tracepoints (default: syscalls:sys_exit_<name>)
    enter_tracepoints: tuple[str, ...] = ()  # enter event emitted at syscall entry instead
    clone_flags: str = "0"         # C expression of the raw clone flags (clone family)
    # x86_64 syscall number: where the kernel has no syscalls:sys_exit_<name> tracepoint
    # (init_module without CONFIG_MODULES: the call still exists and fails with ENOSYS,
    # and Falco, hooked on raw_syscalls, still sees it), the exit is taken from
    # raw_syscalls:sys_exit, filtered on this number
    raw_nr: int = 0

    @property
    def exit_tracepoints(self) -> tuple[str, ...]:
        return self.tracepoints or (f"syscalls:sys_exit_{self.name}",)


def _s(name, ecode, eops, xcode, xops, **kw) -> Syscall:
    return Syscall(name, (ecode, tuple(eops.split())), (xcode, tuple(xops.split())), **kw)


_OPEN_X = "dev ino"
SYSCALLS: tuple[Syscall, ...] = (
    _s("open", 2, "ustr:0 oflags:1 omode:1,2", 3, "res ustr:0 oflags:1 omode:1,2 " + _OPEN_X),
    _s("openat", 306, "fd:0 ustr:1 oflags:2 omode:2,3", 307, "res fd:0 ustr:1 oflags:2 omode:2,3 " + _OPEN_X),
    _s("openat2", 326, "fd:0 ustr:1 how_flags:2 how_mode:2 how_resolve:2", 327,
       "res fd:0 ustr:1 how_flags:2 how_mode:2 how_resolve:2 " + _OPEN_X),
    _s("creat", 58, "ustr:0 mode:1", 59, "res ustr:0 mode:1 dev ino zero16"),
    _s("close", 4, "fd:0", 5, "res fd:0"),
    _s("read", 6, "fd:0 u32:2", 7, "res rdata:1 fd:0 u32:2"),
    _s("write", 8, "fd:0 u32:2", 9, "res rdata:1 fd:0 u32:2"),
    _s("socket", 18, "u32:0 u32:1 u32:2", 19, "res u32:0 u32:1 u32:2 zero32"),
    _s("bind", 20, "fd:0", 21, "res sockaddr:1,2 fd:0"),
    _s("connect", 22, "fd:0 sockaddr:1,2", 23, "res tuple_out:0 fd:0 sockaddr:1,2"),
    _s("listen", 24, "fd:0 u32:1", 25, "res fd:0 i32:1"),
    _s("accept", 246, "", 247, "res tuple_res zero8 zero32 zero32"),
    _s("accept4", 248, "i32:3", 249, "res tuple_res zero8 zero32 zero32"),
    _s("sendto", 30, "fd:0 u32:2 tuple_to:0,4", 31, "res rdata:1 fd:0 u32:2 tuple_to:0,4"),
    _s("recvfrom", 34, "fd:0 u32:2", 35, "res rdata:1 tuple_from:0,4 fd:0 u32:2"),
    _s("sendmsg", 48, "fd:0 retsize tuple_msg_to:0,1", 49, "res empty fd:0 retsize tuple_msg_to:0,1"),
    _s("recvmsg", 52, "fd:0", 53, "res retsize empty tuple_msg_from:0,1 empty fd:0"),
    _s("chdir", 94, "", 95, "res ustr:0"),
    _s("fchdir", 96, "fd:0", 97, "res fd:0"),
    _s("chroot", 266, "", 267, "res ustr:0"),
    _s("mkdir", 276, "u32:1", 277, "res ustr:0 u32:1"),
    _s("mkdirat", 304, "", 305, "res fd:0 ustr:1 u32:2"),
    _s("rmdir", 278, "", 279, "res ustr:0"),
    _s("unlink", 300, "", 301, "res ustr:0"),
    _s("unlinkat", 302, "", 303, "res fd:0 ustr:1 u32:2"),
    _s("link", 308, "", 309, "res ustr:0 ustr:1"),
    _s("linkat", 310, "", 311, "res fd:0 ustr:1 fd:2 ustr:3 u32:4"),
    _s("symlink", 178, "", 179, "res ustr:0 ustr:1"),
    _s("symlinkat", 180, "", 181, "res ustr:0 fd:1 ustr:2"),
    _s("rename", 174, "", 175, "res ustr:0 ustr:1"),
    _s("renameat", 176, "", 177, "res fd:0 ustr:1 fd:2 ustr:3"),
    _s("renameat2", 318, "", 319, "res fd:0 ustr:1 fd:2 ustr:3 u32:4"),
    _s("chmod", 314, "", 315, "res ustr:0 mode:1"),
    _s("fchmod", 316, "", 317, "res fd:0 mode:1"),
    _s("fchmodat", 312, "", 313, "res fd:0 ustr:1 mode:2"),
    # dup2/dup3 were reported as "dup" by the drivers sysdig 0.29 reads
    _s("dup", 124, "fd:0", 125, "res",
       tracepoints=("syscalls:sys_exit_dup", "syscalls:sys_exit_dup2", "syscalls:sys_exit_dup3")),
    _s("kill", 128, "fd:0 u8:1", 129, "res fd:0 u8:1"),
    _s("tkill", 130, "fd:0 u8:1", 131, "res fd:0 u8:1"),
    _s("tgkill", 132, "fd:0 fd:1 u8:2", 133, "res fd:0 fd:1 u8:2"),
    _s("ptrace", 168, "preq:0 fd:1", 169, "res dyn64:2 dyn64:3 preq:0 fd:1"),
    _s("setuid", 198, "u32:0", 199, "res u32:0"),
    _s("setgid", 200, "u32:0", 201, "res u32:0"),
    _s("setresuid", 192, "u32:0 u32:1 u32:2", 193, "res u32:0 u32:1 u32:2"),
    _s("setresgid", 194, "u32:0 u32:1 u32:2", 195, "res u32:0 u32:1 u32:2"),
    _s("setsid", 274, "", 275, "res"),
    _s("setpgid", 294, "fd:0 fd:1", 295, "res fd:0 fd:1"),
    _s("setns", 240, "fd:0 cflags:1", 241, "res fd:0 cflags:1"),
    _s("unshare", 284, "cflags:0", 285, "res cflags:0"),
    _s("mount", 256, "mflags:3", 257, "res ustr:0 ustr:1 ustr:2 mflags:3"),
    _s("umount", 258, "u32:1", 259, "res ustr:0", tracepoints=("syscalls:sys_exit_umount",)),
    # bpf: the current libs' events (their exit names the command, which the official
    # rules test on exits); sysdig 0.29 steps over events it does not know
    _s("bpf", 368, "i64:0", 369, "res u32:0"),
    _s("userfaultfd", 320, "", 321, "res oflags:0"),
    # kernel module loading (event codes of the current libs; sysdig 0.29 has none)
    _s("init_module", 410, "", 411, "res ubuf:0,1 i64:1 ustr:2", raw_nr=175),
    _s("finit_module", 412, "", 413, "res fd:0 ustr:1 u32:2", raw_nr=313),
    # fd-creating calls the state engine follows
    _s("pipe", 60, "", 61, "res ufd:0,0 ufd:0,1 pipe_ino:0",
       tracepoints=("syscalls:sys_exit_pipe", "syscalls:sys_exit_pipe2")),
    _s("eventfd", 62, "i64:0 zero32", 63, "res i64:0 zero32",
       tracepoints=("syscalls:sys_exit_eventfd", "syscalls:sys_exit_eventfd2")),
    _s("socketpair", 42, "u32:0 u32:1 u32:2", 43, "res ufd:3,0 ufd:3,1 sp_src:3 sp_peer:3 u32:0 u32:1 u32:2"),
    _s("fcntl", 150, "fd:0 fcntl_cmd:1", 151, "res fd:0 fcntl_cmd:1 i64:2"),
    _s("signalfd", 126, "fd:0 zero32 zero8", 127, "res fd:0 zero32 zero8",
       tracepoints=("syscalls:sys_exit_signalfd", "syscalls:sys_exit_signalfd4")),
    _s("timerfd_create", 136, "u8:0 u8:1", 137, "res u8:0 u8:1"),
    _s("inotify_init", 138, "zero8", 139, "res zero8",
       tracepoints=("syscalls:sys_exit_inotify_init", "syscalls:sys_exit_inotify_init1")),
    _s("shutdown", 36, "fd:0 u8:1", 37, "res fd:0 u8:1"),
    _s("execve", 292, "ustr:0", 293, "execve", enter_tracepoints=("syscalls:sys_enter_execve",)),
    _s("execveat", 330, "fd:0 ustr:1 xflags:4", 331, "execveat",
       enter_tracepoints=("syscalls:sys_enter_execveat",)),
    _s("clone", 222, "", 223, "clone", clone_flags="ARG(&h, 0)"),
    _s("fork", 224, "", 225, "clone"),
    _s("vfork", 226, "", 227, "clone", clone_flags="0x4100"),
    _s("clone3", 334, "", 335, "clone",
       clone_flags="({ u64 v_ = 0; bpf_probe_read_user(&v_, 8, (void *)ARG(&h, 0)); v_; })"),
)

# sched_process_exit -> procexit (enter-only event)
PROCEXIT = 186
PROCEXIT_NPARAMS = 5

BY_NAME = {s.name: s for s in SYSCALLS}
# newer event names whose syscalls the probe reports under an older event
ALIASES = {"dup2": "dup", "dup3": "dup", "umount2": "umount", "pipe2": "pipe", "eventfd2": "eventfd",
           "signalfd4": "signalfd", "inotify_init1": "inotify_init"}
# execve / execveat exits write these many params (sysdig 0.29 reads the first 20)
_EXECVE_NPARAMS = {"execve": 30, "execveat": 30}
_CLONE_NPARAMS = 21


def exit_nparams(sc: Syscall) -> int:
    ops = sc.exit[1]
    if ops and ops[0] in ("execve", "execveat"):
        return _EXECVE_NPARAMS[ops[0]]
    if ops and ops[0] == "clone":
        return _CLONE_NPARAMS
    return len(ops)


def _op_c(op: str, sc: Syscall) -> str:
    kind, _, arg = op.partition(":")
    if kind == "execveat":
        kind = "execve"
    tmpl = OPS[kind]
    if kind in _MULTI:
        names = _MULTI[kind]
        return tmpl.format(**dict(zip(names, arg.split(","))))
    if kind == "clone":
        return tmpl.replace("{flags}", sc.clone_flags)
    if kind == "execve":
        return tmpl
    return tmpl.format(a=arg)


def _event_c(code: int, nparams: int, ops: tuple[str, ...], sc: Syscall) -> str:
    body = " ".join(_op_c(op, sc) for op in ops)
    return f"ev_begin(e, {code}, {nparams}); {body} ev_end(e);"


def handler_name(sc: Syscall) -> str:
    return f"fx_{sc.name}"


def enter_handler_name(sc: Syscall) -> str:
    return f"fe_{sc.name}"


RAW_EXIT = "raw_syscalls:sys_exit"
RAW_HANDLER = "fr_raw"    # the one raw_syscalls:sys_exit program (``Syscall.raw_nr``)


def generate_c(slots: dict[str, int]) -> str:
    """One exit handler per syscall (and an enter handler where the table says so)."""
    out = []
    for sc in SYSCALLS:
        slot = slots[sc.name]
        ecode, eops = sc.enter
        xcode, xops = sc.exit
        enter_c = "" if sc.enter_tracepoints else (
            f"if (h.flags & F_ENTER) {{ {_event_c(ecode, len(eops), eops, sc)} }}")
        exit_c = _event_c(xcode, exit_nparams(sc), xops, sc)
        # a syscall also taken from raw_syscalls:sys_exit has its body inlined into both
        # its own handler and the one raw dispatcher (RAW_HANDLER)
        fname = f"static __always_inline int body_{sc.name}" if sc.raw_nr else f"int {handler_name(sc)}"
        out.append(f"""
{fname}(void *ctx) {{
    struct hctx h = {{}};
    if (!prologue(&h, ctx, {slot}))
        return 0;
    struct scratch_t *sc = scratch_buf();
    if (!sc)
        return 0;
    struct evb *e = &sc->ev;
    e->off = 0;
    e->ts = now_ns();
    {enter_c}
    if (h.flags & F_EXIT) {{ {exit_c} }}
    if (e->off)
        submit(e);
    return 0;
}}""")
        if sc.raw_nr:
            out.append(f"int {handler_name(sc)}(void *ctx) {{ return body_{sc.name}(ctx); }}")
        if sc.enter_tracepoints:
            # the enter event's strings live in memory the exit no longer maps
            body = _event_c(ecode, len(eops), eops, sc).replace("ARG(&h, ", "EARG(ctx, ")
            out.append(f"""
int {enter_handler_name(sc)}(void *ctx) {{
    u32 slot = {slot};
    u32 *f = settings.lookup(&slot);
    if (!f || !(*f & F_ENTER))
        return 0;
    if (SELF_TGID && (bpf_get_current_pid_tgid() >> 32) == SELF_TGID)
        return 0;
    struct scratch_t *sc = scratch_buf();
    if (!sc)
        return 0;
    struct evb *e = &sc->ev;
    e->off = 0;
    e->ts = now_ns();
    {body}
    submit(e);
    return 0;
}}""")
    raw = [sc for sc in SYSCALLS if sc.raw_nr]
    if raw:
        # raw_syscalls:sys_exit's id, a long at 8 read directly from the context: one
        # program for every syscall lacking its own tracepoint, cheap on all the others
        cases = " ".join(f"if (nr == {sc.raw_nr}) return body_{sc.name}(ctx);" for sc in raw)
        out.append(f"""
int {RAW_HANDLER}(void *ctx) {{
    long nr = *(long *)((char *)ctx + 8);
    {cases}
    return 0;
}}""")
    return "\n".join(out)
