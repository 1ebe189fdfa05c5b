"""Build, load and steer the BPF program: offsets from BTF, compile, hooks.

``ProbeProgram`` has probe.c, with the running kernel's struct offsets and
the generated handlers, compiled and loaded by bcc in a child process
(loader.py), attaches only the tracepoints of the syscalls wanted, and
changes that set (and the per-syscall enter/drop-failed switches) while
running, with plain system calls (bpfsys.py): this process never maps
libbcc or LLVM.
"""
from __future__ import annotations

import os
import time
from importlib import resources

import attrs

from falcolib_ebpf import bpfsys
from falcolib_ebpf import syscalls as S
from falcolib_ebpf.btf import Btf, BtfError
from falcolib_ebpf.loader import load_probe

# counter slots, as #defined in probe.c
COUNTERS = ("seen", "filtered_failed", "filtered_self", "emitted", "ring_full",
            "too_big", "filtered_type")
F_EXIT, F_ENTER, F_DROP_FAILED = 1, 2, 4
BPF_RB_NO_WAKEUP = 1

# C name -> (struct, member path); alternatives separated by "|"
_OFFSETS = {
    "O_TASK_PID": ("task_struct", "pid"),
    "O_TASK_TGID": ("task_struct", "tgid"),
    "O_TASK_REAL_PARENT": ("task_struct", "real_parent"),
    "O_TASK_GROUP_LEADER": ("task_struct", "group_leader"),
    "O_TASK_COMM": ("task_struct", "comm"),
    "O_TASK_CRED": ("task_struct", "cred"),
    "O_TASK_FS": ("task_struct", "fs"),
    "O_TASK_FILES": ("task_struct", "files"),
    "O_TASK_MM": ("task_struct", "mm"),
    "O_TASK_SIGNAL": ("task_struct", "signal"),
    "O_TASK_LOGINUID": ("task_struct", "loginuid"),
    "O_TASK_THREAD_PID": ("task_struct", "thread_pid"),
    "O_TASK_CGROUPS": ("task_struct", "cgroups"),
    "O_TASK_EXIT_CODE": ("task_struct", "exit_code"),
    "O_TASK_MAJ_FLT": ("task_struct", "maj_flt"),
    "O_TASK_MIN_FLT": ("task_struct", "min_flt"),
    "O_CRED_EUID": ("cred", "euid"),
    "O_CRED_EGID": ("cred", "egid"),
    "O_CRED_CAP_INH": ("cred", "cap_inheritable"),
    "O_CRED_CAP_PRM": ("cred", "cap_permitted"),
    "O_CRED_CAP_EFF": ("cred", "cap_effective"),
    "O_MM_ARG_START": ("mm_struct", "arg_start"),
    "O_MM_ARG_END": ("mm_struct", "arg_end"),
    "O_MM_ENV_START": ("mm_struct", "env_start"),
    "O_MM_ENV_END": ("mm_struct", "env_end"),
    "O_MM_EXE_FILE": ("mm_struct", "exe_file"),
    "O_MM_TOTAL_VM": ("mm_struct", "total_vm"),
    "O_FS_PWD_MNT": ("fs_struct", "pwd.mnt"),
    "O_FS_PWD_DENTRY": ("fs_struct", "pwd.dentry"),
    "O_FILE_PATH_MNT": ("file", "f_path.mnt"),
    "O_FILE_PATH_DENTRY": ("file", "f_path.dentry"),
    "O_FILE_INODE": ("file", "f_inode"),
    "O_FILE_PRIVATE": ("file", "private_data"),
    "O_INODE_SB": ("inode", "i_sb"),
    "O_INODE_INO": ("inode", "i_ino"),
    "O_INODE_MODE": ("inode", "i_mode"),
    "O_INODE_UID": ("inode", "i_uid"),
    "O_INODE_CTIME_SEC": ("inode", "i_ctime_sec|__i_ctime.tv_sec|i_ctime.tv_sec"),
    "O_INODE_CTIME_NSEC": ("inode", "i_ctime_nsec|__i_ctime.tv_nsec|i_ctime.tv_nsec"),
    "O_INODE_MTIME_SEC": ("inode", "i_mtime_sec|__i_mtime.tv_sec|i_mtime.tv_sec"),
    "O_INODE_MTIME_NSEC": ("inode", "i_mtime_nsec|__i_mtime.tv_nsec|i_mtime.tv_nsec"),
    "O_SB_DEV": ("super_block", "s_dev"),
    "O_SB_MAGIC": ("super_block", "s_magic"),
    "O_DENTRY_SB": ("dentry", "d_sb"),
    "O_DENTRY_INODE": ("dentry", "d_inode"),
    "O_FILES_FDT": ("files_struct", "fdt"),
    "O_FDT_MAX_FDS": ("fdtable", "max_fds"),
    "O_FDT_FD": ("fdtable", "fd"),
    "O_DENTRY_PARENT": ("dentry", "d_parent"),
    "O_DENTRY_NAME": ("dentry", "d_name.name"),
    "O_MOUNT_MNT": ("mount", "mnt"),
    "O_MOUNT_PARENT": ("mount", "mnt_parent"),
    "O_MOUNT_MOUNTPOINT": ("mount", "mnt_mountpoint"),
    "O_VFSMOUNT_ROOT": ("vfsmount", "mnt_root"),
    "O_SOCKET_SK": ("socket", "sk"),
    "O_SK_FAMILY": ("sock", "__sk_common.skc_family"),
    "O_SK_RCV_SADDR": ("sock", "__sk_common.skc_rcv_saddr"),
    "O_SK_DADDR": ("sock", "__sk_common.skc_daddr"),
    "O_SK_NUM": ("sock", "__sk_common.skc_num"),
    "O_SK_DPORT": ("sock", "__sk_common.skc_dport"),
    "O_SK_V6_DADDR": ("sock", "__sk_common.skc_v6_daddr"),
    "O_SK_V6_RCV_SADDR": ("sock", "__sk_common.skc_v6_rcv_saddr"),
    "O_UNIX_PEER": ("unix_sock", "peer"),
    "O_UNIX_ADDR": ("unix_sock", "addr"),
    "O_UNIX_ADDR_NAME": ("unix_address", "name"),
    "O_PID_LEVEL": ("pid", "level"),
    "O_PID_NUMBERS": ("pid", "numbers"),
    "O_SIGNAL_TTY": ("signal_struct", "tty"),
    "O_SIGNAL_RLIM": ("signal_struct", "rlim"),
    "O_SIGNAL_PIDS": ("signal_struct", "pids"),
    "O_TTY_DRIVER": ("tty_struct", "driver"),
    "O_TTY_INDEX": ("tty_struct", "index"),
    "O_TTYDRV_MAJOR": ("tty_driver", "major"),
    "O_TTYDRV_MINOR_START": ("tty_driver", "minor_start"),
    "O_CSS_SET_SUBSYS": ("css_set", "subsys"),
    "O_CSS_CGROUP": ("cgroup_subsys_state", "cgroup"),
    "O_CGROUP_KN": ("cgroup", "kn"),
    "O_KN_PARENT": ("kernfs_node", "__parent|parent"),
    "O_KN_NAME": ("kernfs_node", "name"),
}

# cgroup subsystems reported in execve/clone "cgroups", as /proc/PID/cgroup names them
CGROUP_SUBSYS = ("cpuset", "cpu", "cpuacct", "io", "memory", "devices", "freezer", "pids")


def kernel_offsets(btf: Btf) -> dict[str, int]:
    """Every O_* offset the probe needs, from the running kernel's BTF."""
    out = {}
    for cname, (struct_name, paths) in _OFFSETS.items():
        for path in paths.split("|"):
            if btf.has(struct_name, path):
                out[cname] = btf.offset(struct_name, path)
                break
        else:
            raise BtfError(f"kernel BTF lacks {struct_name}.{paths}")
    out["UPID_SIZE"] = btf.struct_size("upid")
    # an overlayfs inode's upper dentry follows its VFS inode (struct ovl_inode); 0: no
    # overlayfs in the kernel's BTF, the exe layer flags stay unset
    out["O_OVL_UPPER"] = (btf.offset("ovl_inode", "__upperdentry") - btf.offset("ovl_inode", "vfs_inode")
                          if btf.has("ovl_inode", "__upperdentry") and btf.has("ovl_inode", "vfs_inode")
                          else 0)
    return out


def _cgroup_switch(btf: Btf) -> tuple[int, str]:
    ids = btf.enum_values("cgroup_subsys_id")
    present = [(name, ids[f"{name}_cgrp_id"]) for name in CGROUP_SUBSYS if f"{name}_cgrp_id" in ids]
    lines = []
    for i, (name, sid) in enumerate(present):
        kw = "if" if i == 0 else "else if"
        packed = int.from_bytes(name.encode().ljust(8, b"\0")[:8], "little")
        lines.append(f"{kw} (s == {i}) {{ sid = {sid}; name = {packed:#x}ULL; nlen = {len(name)}; }}")
    return len(present), " ".join(lines)


def possible_cpus() -> int:
    try:
        with open("/sys/devices/system/cpu/possible") as fh:
            text = fh.read().strip()
        return max(int(part.split("-")[-1]) for part in text.split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


@attrs.frozen
class ProbeOptions:
    ring_pages: int = 2048          # power of two; 2048 pages = 8 MiB
    snaplen: int = 80               # bytes of read/write data copied
    max_event: int = 16384          # largest record (power of two)
    wakeup: bool = False            # wake the reader per event instead of draining
    ignore_self: bool = True        # drop events of this very process


def build_source(btf: Btf, opts: ProbeOptions, self_tgid: int) -> tuple[str, dict[str, int]]:
    offsets = kernel_offsets(btf)
    n_cg, cg_switch = _cgroup_switch(btf)
    slots = {sc.name: i for i, sc in enumerate(S.SYSCALLS)}
    slots["procexit"] = len(S.SYSCALLS)
    boot_to_epoch = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    defines = dict(offsets)
    defines.update(
        MAXEV=opts.max_event, RING_PAGES=opts.ring_pages, SNAPLEN=opts.snaplen,
        SELF_TGID=self_tgid if opts.ignore_self else 0,
        BOOT_TO_EPOCH_NS=f"{boot_to_epoch}ULL", NCPUS=possible_cpus(),
        N_COUNTERS=len(COUNTERS), N_SLOTS=len(slots), PROCEXIT_SLOT=slots["procexit"],
        RB_FLAGS=0 if opts.wakeup else BPF_RB_NO_WAKEUP, N_CG_SUBSYS=n_cg,
    )
    head = "\n".join(f"#define {k} {v}" for k, v in defines.items())
    head += f"\n#define CG_SUBSYS_SWITCH {cg_switch}\n"
    body = resources.files("falcolib_ebpf").joinpath("probe.c").read_text()
    return head + body + S.generate_c(slots), slots


def handlers() -> list[str]:
    """Every BPF function of the probe: an exit handler per syscall, the enter handlers
    of the syscalls whose enter event is taken at entry, and the process-exit handler."""
    out = [S.handler_name(sc) for sc in S.SYSCALLS]
    out += [S.enter_handler_name(sc) for sc in S.SYSCALLS if sc.enter_tracepoints]
    out += [S.RAW_HANDLER] if any(sc.raw_nr for sc in S.SYSCALLS) else []
    return out + ["fx_procexit"]


CFLAGS = ("-Wno-unused-function", "-Wno-unused-variable")
EVENTS_MAP, SETTINGS_MAP, COUNTERS_MAP = "events", "settings", "counters"


class ProbeProgram:
    """The loaded probe: attach/detach hooks, switches, counters.

    Compiling and loading happen in a child process (loader.py) that hands
    back the descriptors of every program and map; from then on this process
    uses them through bpf(2) and perf_event_open(2) only (bpfsys.py).
    Loading every handler up front costs ~0.1 s of the ~3 s compile, so any
    later change of the wanted set is only attaching and detaching.
    """

    def __init__(self, btf: Btf, opts: ProbeOptions, self_tgid: int):
        self.opts = opts
        src, self.slots = build_source(btf, opts, self_tgid)
        self.source = src
        self.loaded = load_probe(src, list(CFLAGS), handlers())
        self._ncpus = possible_cpus()
        self._attached: dict[tuple[str, str], int] = {}   # (tracepoint, function) -> perf fd
        self._settings = self.loaded.maps[SETTINGS_MAP].fd
        self._counters = self.loaded.maps[COUNTERS_MAP].fd

    def map_fd(self, name: str) -> int:
        return self.loaded.maps[name].fd

    # -- hooks ---------------------------------------------------------------
    def _hooks_for(self, name: str) -> list[tuple[str, str]]:
        if name == "procexit":
            return [("sched:sched_process_exit", "fx_procexit")]
        sc = S.BY_NAME[name]
        if sc.raw_nr and not _has_tracepoint(sc.exit_tracepoints[0]):
            return [(S.RAW_EXIT, S.RAW_HANDLER)]
        hooks = [(tp, S.handler_name(sc)) for tp in sc.exit_tracepoints]
        hooks += [(tp, S.enter_handler_name(sc)) for tp in sc.enter_tracepoints]
        return hooks

    def configure(self, wanted: dict[str, int]) -> None:
        """``wanted``: syscall name -> F_* flags. Hooks what is wanted, unhooks the rest."""
        want_hooks = set()
        for name, slot in self.slots.items():
            flags = wanted.get(name, 0)
            bpfsys.map_update_u32(self._settings, slot, flags)
            if flags & (F_EXIT | F_ENTER):
                want_hooks.update(self._hooks_for(name))
        _close_all([self._attached.pop(hook) for hook in sorted(self._attached.keys() - want_hooks)])
        for tp, fn in sorted(want_hooks - self._attached.keys()):
            self._attached[(tp, fn)] = bpfsys.attach_tracepoint(self.loaded.programs[fn], tp)

    def mute(self) -> None:
        """Stop every hook from emitting (each syscall's flags to 0) without detaching: cheap
        and safe at shutdown; ``close()`` detaches everything afterwards."""
        for slot in self.slots.values():
            bpfsys.map_update_u32(self._settings, slot, 0)

    @property
    def attached(self) -> frozenset[str]:
        return frozenset(tp for tp, _ in self._attached)

    # -- counters -------------------------------------------------------------
    def counters(self) -> dict[str, list[int]]:
        """Per-CPU values of every counter."""
        return {name: bpfsys.percpu_lookup_u64(self._counters, i, self._ncpus)
                for i, name in enumerate(COUNTERS)}

    def close(self) -> None:
        """Detach every hook, then drop the programs and maps (the kernel frees them with
        their last descriptor)."""
        _close_all(list(self._attached.values()))
        self._attached.clear()
        _close_all(self.loaded.fds(), threads=1)


def _has_tracepoint(tracepoint: str) -> bool:
    try:
        bpfsys.tracepoint_id(tracepoint)
    except OSError:
        return False
    return True


def _close_all(fds: list[int], threads: int = 8) -> None:
    """Close descriptors, best effort. Closing a tracepoint's perf event waits for RCU
    grace periods (~80 ms each, 70 hooks took ~6 s one by one); closed from several
    threads the waits overlap (~2-3 s)."""
    def close(fd: int) -> None:
        try:
            os.close(fd)
        except OSError:
            pass
    if threads <= 1 or len(fds) <= 1:
        for fd in fds:
            close(fd)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(min(threads, len(fds)), thread_name_prefix="falcolib-ebpf-detach") as pool:
        list(pool.map(close, fds))
