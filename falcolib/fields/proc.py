"""proc.* fields: the process that made the call, its parent and ancestors (sysdig 0.29 + newer libs)."""
from __future__ import annotations

from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T
from falcolib.state.threadinfo import CL_IS_MAIN_THREAD as _CL_IS_MAIN_THREAD

proc = FieldClass("proc", "Additional information about the process and thread executing the syscall event.")
_TH = frozenset({"event", "thread"})


def render_bool(v) -> str:
    return "true" if v else "false"


def cmdline(t) -> str:
    return " ".join((t.comm, *t.args)) if t.args else t.comm


def main_of(view):
    t = view.thread
    if t is None:
        return None
    if t.tid == t.pid or t.flags & _CL_IS_MAIN_THREAD:
        return t
    return view.state.main_thread(t)


def ancestor(view, n: int):
    """The n-th ancestor of the calling process (0 = itself), via main threads as sysdig."""
    mt = main_of(view)
    get = view.state.threads.get
    while n > 0 and mt is not None:
        mt = get(mt.ptid)
        n -= 1
    return mt


def _ancestors(view):
    mt = main_of(view)
    if mt is None:
        return None
    return list(view.state.ancestors(mt))


def _field(name, ftype, desc, **kw):
    kw.setdefault("needs", _TH)
    if ftype is T.BOOL:
        kw.setdefault("render", render_bool)
    return proc.field(name, ftype, desc, **kw)


def _thread_attr(name, ftype, desc, attr):
    @_field(name, ftype, desc)
    def _get(view, _a=attr):
        t = view.thread
        return None if t is None else getattr(t, _a)
    return _get


_thread_attr("proc.pid", T.INT64, "the id of the process generating the event.", "pid")
_thread_attr("proc.exe", T.CHARBUF, "the first command line argument (usually the executable name or a custom one).", "exe")
_thread_attr("proc.name", T.CHARBUF, "the name (excluding the path) of the executable generating the event.", "comm")
_thread_attr("proc.exepath", T.CHARBUF, "The full executable path of the process.", "exepath")
_thread_attr("proc.sid", T.INT64, "the session id of the process generating the event.", "sid")
_thread_attr("proc.vpgid", T.INT64, "the process group id of the process generating the event, as seen from its current PID namespace.", "vpgid")
_thread_attr("proc.tty", T.INT32, "The controlling terminal of the process. 0 for processes without a terminal.", "tty")
_thread_attr("proc.vmsize", T.UINT64, "total virtual memory for the process (as kb).", "vmsize_kb")
_thread_attr("proc.vmrss", T.UINT64, "resident non-swapped memory for the process (as kb).", "vmrss_kb")
_thread_attr("proc.vmswap", T.UINT64, "swapped memory for the process (as kb).", "vmswap_kb")
_thread_attr("proc.nchilds", T.UINT32, "the number of child threads that the process generating the event currently has. This excludes the main process thread.", "nchilds")
_thread_attr("proc.is_exe_writable", T.BOOL, "true if this process' executable file is writable by the same user that spawned the process.", "exe_writable")
_thread_attr("proc.is_exe_upper_layer", T.BOOL, "true if this process' executable file is in upper layer in overlayfs.", "exe_upper_layer")
_thread_attr("proc.is_exe_from_memfd", T.BOOL, "true if the executable file of the current process is an anonymous file created using memfd_create().", "exe_from_memfd")
_thread_attr("proc.exe_ino", T.INT64, "the inode number of the executable file on disk.", "exe_ino")
_thread_attr("proc.exe_ino.ctime", T.ABSTIME, "last status change time of the executable file (ns since epoch).", "exe_ino_ctime")
_thread_attr("proc.exe_ino.mtime", T.ABSTIME, "last modification time of the executable file (ns since epoch).", "exe_ino_mtime")
_thread_attr("proc.pidns_init_start_ts", T.UINT64, "start time of the process' pid namespace init (ns since epoch).", "pidns_init_start_ts")


@_field("proc.args", T.CHARBUF, "the arguments passed on the command line when starting the process generating the event.")
def proc_args(view):
    t = view.thread
    return None if t is None else " ".join(t.args)


@_field("proc.cmdnargs", T.UINT64, "the number of command line args (proc.args).")
def proc_cmdnargs(view):
    t = view.thread
    return None if t is None else len(t.args)


@_field("proc.cmdlenargs", T.UINT64, "the total count of characters in the command line args (proc.args), spaces excluded.")
def proc_cmdlenargs(view):
    t = view.thread
    return None if t is None else sum(len(a) for a in t.args)


@_field("proc.env", T.CHARBUF, "the environment variables of the process generating the event; proc.env[NAME] is one variable's value.", arg=ArgKind.OPT_KEY)
def proc_env(view, name=None):
    t = view.thread
    if t is None:
        return None
    env = view.state.env(t)
    if name is None:
        return " ".join(env)
    n = len(name)
    for var in env:
        if len(var) > n + 1 and var[n] == "=" and var.startswith(name):
            return var[n + 1:].strip(" ")
    return ""


@_field("proc.cmdline", T.CHARBUF, "full process command line, i.e. proc.name + proc.args.")
def proc_cmdline(view):
    t = view.thread
    return None if t is None else cmdline(t)


@_field("proc.exeline", T.CHARBUF, "full process command line, with exe as first argument, i.e. proc.exe + proc.args.")
def proc_exeline(view):
    t = view.thread
    return None if t is None else t.exe + " " + " ".join(t.args)


@_field("proc.cwd", T.CHARBUF, "the current working directory of the event.")
def proc_cwd(view):
    t = view.thread
    return None if t is None else view.state.cwd(t)


@_field("proc.nthreads", T.UINT32, "the number of threads that the process generating the event currently has, including the main process thread.")
def proc_nthreads(view):
    mt = main_of(view)
    return None if mt is None else mt.nchilds + 1


@_field("proc.ppid", T.INT64, "the pid of the parent of the process generating the event.")
def proc_ppid(view):
    mt = main_of(view)
    return None if mt is None else mt.ptid


def _parent(view):
    t = view.thread
    return None if t is None else view.state.threads.get(t.ptid)


@_field("proc.pname", T.CHARBUF, "the name (excluding the path) of the parent of the process generating the event.")
def proc_pname(view):
    p = _parent(view)
    return None if p is None else p.comm


@_field("proc.pcmdline", T.CHARBUF, "the full command line (proc.name + proc.args) of the parent of the process generating the event.")
def proc_pcmdline(view):
    p = _parent(view)
    return None if p is None else cmdline(p)


@_field("proc.pexe", T.CHARBUF, "the proc.exe (first command line argument) of the parent process.")
def proc_pexe(view):
    p = _parent(view)
    return None if p is None else p.exe


@_field("proc.pexepath", T.CHARBUF, "the proc.exepath (full executable path) of the parent process.")
def proc_pexepath(view):
    p = _parent(view)
    return None if p is None else p.exepath


@_field("proc.pvpid", T.INT64, "the id of the parent process as seen from its current PID namespace.")
def proc_pvpid(view):
    p = _parent(view)
    return None if p is None else p.vpid


def _ancestor_field(name, ftype, desc, attr):
    @_field(name, ftype, desc, arg=ArgKind.OPT_INDEX, list_without_arg=True)
    def _get(view, n=None, _a=attr):
        if n is None:
            anc = _ancestors(view)
            return None if anc is None else tuple(getattr(a, _a) for a in anc)
        mt = main_of(view)
        get = view.state.threads.get
        while n > 0 and mt is not None:
            mt = get(mt.ptid)
            n -= 1
        return None if mt is None else getattr(mt, _a)
    return _get


_ancestor_field("proc.apid", T.INT64, "the pid of one of the process ancestors. E.g. proc.apid[1] returns the parent pid, proc.apid[2] the grandparent pid; proc.apid[0] is the current process. Without argument (filters only) it matches any ancestor.", "pid")
_ancestor_field("proc.aname", T.CHARBUF, "the name (excluding the path) of one of the process ancestors. E.g. proc.aname[1] returns the parent name, proc.aname[2] the grandparent name; proc.aname[0] is the current process. Without argument (filters only) it matches any ancestor.", "comm")
_ancestor_field("proc.aexe", T.CHARBUF, "the proc.exe of one of the process ancestors (proc.aexe[1] is the parent's). Without argument it matches any ancestor.", "exe")
_ancestor_field("proc.aexepath", T.CHARBUF, "the proc.exepath of one of the process ancestors (proc.aexepath[1] is the parent's). Without argument it matches any ancestor.", "exepath")


@_field("proc.loginshellid", T.INT64, "the pid of the oldest shell among the ancestors of the current process, if there is one.")
def proc_loginshellid(view):
    mt = main_of(view)
    if mt is None:
        return None
    res = mt.pid if mt.comm.endswith("sh") and len(mt.comm) >= 2 else None
    for a in view.state.ancestors(mt):
        if len(a.comm) >= 2 and a.comm.endswith("sh"):
            res = a.pid
    return res


@_field("proc.duration", T.RELTIME, "number of nanoseconds since the process started.")
def proc_duration(view):
    t = view.thread
    if t is None or not t.clone_ts:
        return None
    return view.evt.ts - t.clone_ts


@_field("proc.ppid.duration", T.RELTIME, "number of nanoseconds since the parent process started.")
def proc_ppid_duration(view):
    p = _parent(view)
    if p is None or not p.clone_ts:
        return None
    return view.evt.ts - p.clone_ts


@_field("proc.pid.ts", T.ABSTIME, "start of the process as epoch timestamp in nanoseconds.")
def proc_pid_ts(view):
    t = view.thread
    return None if t is None or not t.clone_ts else t.clone_ts


@_field("proc.ppid.ts", T.ABSTIME, "start of the parent process as epoch timestamp in nanoseconds.")
def proc_ppid_ts(view):
    p = _parent(view)
    return None if p is None or not p.clone_ts else p.clone_ts


@_field("proc.exe_ino.ctime_duration_proc_start", T.RELTIME, "nanoseconds between the executable's last status change and the process start.")
def proc_ctime_proc_start(view):
    t = view.thread
    if t is None or not t.exe_ino_ctime or not t.clone_ts:
        return None
    return t.clone_ts - t.exe_ino_ctime


@_field("proc.exe_ino.ctime_duration_pidns_start", T.RELTIME, "nanoseconds between the pid namespace start and the executable's last status change.")
def proc_ctime_pidns_start(view):
    t = view.thread
    if t is None or not t.exe_ino_ctime or not t.pidns_init_start_ts:
        return None
    return t.exe_ino_ctime - t.pidns_init_start_ts


@_field("proc.fdopencount", T.UINT64, "number of open FDs for the process")
def proc_fdopencount(view):
    mt = main_of(view)
    return None if mt is None else len(mt.fds)


@_field("proc.vpid", T.INT64, "the id of the process generating the event as seen from its current PID namespace.")
def proc_vpid(view):
    t = view.thread
    return None if t is None or t.vpid == -1 else t.vpid


@_field("proc.fdlimit", T.INT64, "maximum number of FDs the process can open.")
def proc_fdlimit(view):
    mt = main_of(view)
    return None if mt is None else mt.fdlimit


@_field("proc.fdusage", T.DOUBLE, "the ratio between open FDs and maximum available FDs for the process.",
        render=lambda v: f"{v:.1f}")
def proc_fdusage(view):
    mt = main_of(view)
    if mt is None:
        return None
    return len(mt.fds) * 100.0 / mt.fdlimit if mt.fdlimit > 0 else 0.0


def _leader(view, attr: str):
    """The leader of the thread's session (``attr="sid"``) or process group (``"vpgid"``):
    the process whose pid is that id, else the eldest ancestor sharing it (as sysdig)."""
    t = view.thread
    if t is None:
        return None
    lead = view.state.threads.get(getattr(t, attr))
    if lead is not None:
        return lead
    mt = view.state.main_thread(t)
    if mt is None:
        return None
    key = getattr(mt, attr)
    for a in view.state.ancestors(mt):
        if getattr(a, attr) != key:
            break
        mt = a
    return mt


def _leader_field(name: str, attr: str, leader_attr: str, desc: str) -> None:
    def extract(view, _attr=attr, _leader_attr=leader_attr):
        lead = _leader(view, _attr)
        return None if lead is None else getattr(lead, _leader_attr)
    extract.__name__ = name.replace(".", "_")
    _field(name, T.CHARBUF, desc)(extract)


for _attr, _what, _names in (
        ("sid", "session leader", ("proc.sname", "proc.sid.exe", "proc.sid.exepath")),
        ("vpgid", "process group leader", ("proc.vpgid.name", "proc.vpgid.exe",
                                           "proc.vpgid.exepath"))):
    _leader_field(_names[0], _attr, "comm",
                  f"the name of the current process's {_what}"
                  + (": the process with pid=proc.sid or the eldest ancestor with the same sid."
                     if _attr == "sid" else "."))
    _leader_field(_names[1], _attr, "exe",
                  f"the first command line argument of the current process's "
                  f"{'session leader' if _attr == 'sid' else 'group leader'}.")
    _leader_field(_names[2], _attr, "exepath",
                  f"the full executable path of the current process's "
                  f"{'session leader' if _attr == 'sid' else 'group leader'}.")


@_field("proc.is_sid_leader", T.BOOL, "true if this process is the leader of the process session (proc.sid == proc.vpid).")
def proc_is_sid_leader(view):
    t = view.thread
    return None if t is None else t.sid == t.vpid


@_field("proc.is_vpgid_leader", T.BOOL, "true if this process is the leader of the process group (proc.vpgid == proc.vpid).")
def proc_is_vpgid_leader(view):
    t = view.thread
    return None if t is None else t.vpgid == t.vpid


def _not_probe(view):
    return None if view.thread is None else False


for _n, _d in (("proc.is_container_healthcheck", "health check"),
               ("proc.is_container_liveness_probe", "liveness probe"),
               ("proc.is_container_readiness_probe", "readiness probe")):
    _field(_n, T.BOOL, f"true if this process is running as a part of the container's {_d}.")(_not_probe)
