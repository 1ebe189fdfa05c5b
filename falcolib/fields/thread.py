"""thread.* fields: the calling thread (ids, cgroups, page faults, capabilities)."""
from __future__ import annotations

from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T
from falcolib.fields.proc import render_bool

thread = FieldClass("thread", "Information about the thread executing the syscall event.")
_TH = frozenset({"event", "thread"})

# Linux capability numbers -> names (include/uapi/linux/capability.h)
CAP_NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)


def cap_text(mask: int) -> str:
    """A capability mask as newer libs print it: names separated by spaces."""
    return " ".join(n for i, n in enumerate(CAP_NAMES) if mask >> i & 1)


def _attr(name, ftype, desc, attr, render=None):
    @thread.field(name, ftype, desc, needs=_TH, render=render)
    def _get(view, _a=attr):
        t = view.thread
        return None if t is None else getattr(t, _a)
    return _get


@thread.field("thread.tid", T.INT64, "the id of the thread generating the event.")
def thread_tid(view):
    return view.evt.tid


_attr("thread.pfmajor", T.UINT64, "number of major page faults since thread start.", "pfmajor")
_attr("thread.pfminor", T.UINT64, "number of minor page faults since thread start.", "pfminor")
@thread.field("thread.vtid", T.INT64, "the id of the thread generating the event as seen from its current PID namespace.", needs=_TH)
def thread_vtid(view):
    t = view.thread
    return None if t is None or t.vtid == -1 else t.vtid


@thread.field("thread.ismain", T.BOOL, "'true' if the thread generating the event is the main one in the process.", needs=_TH, render=render_bool)
def thread_ismain(view):
    t = view.thread
    return None if t is None else t.is_main


@thread.field("thread.exectime", T.RELTIME, "CPU time spent by the last scheduled thread, in nanoseconds. Exported by switch events only.")
def thread_exectime(view):
    evt, value = view.state.exectime
    return value if evt is view.evt else 0


@thread.field("thread.totexectime", T.RELTIME, "Total CPU time, in nanoseconds since the beginning of the capture, for the current thread. Exported by switch events only.", needs=_TH)
def thread_totexectime(view):
    t = view.thread
    return None if t is None else t.totexectime


def _cpu(user: bool, system: bool, key: str):
    """CPU consumed since the thread's previous procinfo event (ticks, at most 100)."""
    def _get(view):
        t = view.thread
        evt = view.evt
        if t is None or evt.info.enum != "PPME_PROCINFO_E":
            return None
        tot = (evt.value(0) or 0 if user else 0) + (evt.value(1) or 0 if system else 0)
        last = t.cpu_last.get(key, 0) if t.cpu_last else 0
        if t.cpu_last is None:
            t.cpu_last = {}
        t.cpu_last[key] = tot
        return float(min(tot - last, 100)) if last else 0.0
    return _get


thread.field("thread.cpu", T.DOUBLE, "the CPU consumed by the thread in the last second.", needs=_TH)(_cpu(True, True, "t"))
thread.field("thread.cpu.user", T.DOUBLE, "the user CPU consumed by the thread in the last second.", needs=_TH)(_cpu(True, False, "u"))
thread.field("thread.cpu.system", T.DOUBLE, "the system CPU consumed by the thread in the last second.", needs=_TH)(_cpu(False, True, "s"))


@thread.field("thread.cgroups", T.CHARBUF, "all the cgroups the thread belongs to, aggregated into a single string.", needs=_TH)
def thread_cgroups(view):
    t = view.thread
    if t is None or not t.cgroups:
        return None
    return " ".join(f"{s}={p}" for s, p in t.cgroups)


@thread.field("thread.cgroup", T.CHARBUF, "the cgroup the thread belongs to, for a specific subsystem. E.g. thread.cgroup.cpuacct.", arg=ArgKind.NAME_SUFFIX, needs=_TH)
def thread_cgroup(view, subsys):
    t = view.thread
    if t is None:
        return None
    for s, p in t.cgroups:
        if s == subsys:
            return p
    return None


def _main_only(attr, scale):
    def _get(view):
        t = view.thread
        if t is None:
            return None
        return getattr(t, attr) * scale if t.is_main else 0
    return _get


thread.field("thread.vmsize", T.UINT64, "For the process main thread, the total virtual memory for the process (as kb); zero for other threads.", needs=_TH)(_main_only("vmsize_kb", 1))
thread.field("thread.vmrss", T.UINT64, "For the process main thread, the resident non-swapped memory for the process (as kb); zero for other threads.", needs=_TH)(_main_only("vmrss_kb", 1))
thread.field("thread.vmsize.b", T.UINT64, "For the process main thread, the total virtual memory for the process (in bytes); zero for other threads.", needs=_TH)(_main_only("vmsize_kb", 1024))
thread.field("thread.vmrss.b", T.UINT64, "For the process main thread, the resident non-swapped memory for the process (in bytes); zero for other threads.", needs=_TH)(_main_only("vmrss_kb", 1024))


@thread.field("thread.nametid", T.CHARBUF, "the process name and tid of a thread, an identifier of a thread for a specific execve.", needs=_TH)
def thread_nametid(view):
    t = view.thread
    return None if t is None else f"{t.comm}{view.evt.tid}"


def _caps(attr):
    def _get(view):
        t = view.thread
        return None if t is None else cap_text(getattr(t, attr))
    return _get


# capability sets are text (capability names), as the newer libs give them to rules
for _n, _a in (("thread.cap_permitted", "cap_permitted"),
               ("thread.cap_inheritable", "cap_inheritable"),
               ("thread.cap_effective", "cap_effective")):
    thread.field(_n, T.CHARBUF, f"the {_a[4:]} capabilities set of the thread, as capability names.",
                 needs=_TH)(_caps(_a))
