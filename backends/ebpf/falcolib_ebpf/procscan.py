"""The host's state at start: threads, fds, users, groups, interfaces, containers.

A scan of /proc made right after the probe starts, so that what existed
before the first event is known (as libscap does when it opens a live
capture). Every read tolerates processes vanishing mid-scan.
"""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import time

from falcolib.backend.model import (
    FdRecord, GroupRecord, InterfaceRecord, MachineInfo, ProcessRecord, StateSnapshot, UserRecord,
)
from falcolib.state.threadinfo import CL_CLONE_FILES, CL_CLONE_THREAD

from falcolib_ebpf.containers import container_of, describe

PROC = "/proc"
SCAP_FD_FILE, SCAP_FD_DIRECTORY = 1, 2
SCAP_FD_IPV4_SOCK, SCAP_FD_IPV6_SOCK, SCAP_FD_IPV4_SERVSOCK, SCAP_FD_IPV6_SERVSOCK = 3, 4, 5, 6
SCAP_FD_FIFO, SCAP_FD_UNIX_SOCK, SCAP_FD_EVENT, SCAP_FD_UNSUPPORTED = 7, 8, 9, 10
SCAP_FD_SIGNALFD, SCAP_FD_EVENTPOLL, SCAP_FD_INOTIFY, SCAP_FD_TIMERFD, SCAP_FD_NETLINK = 11, 12, 13, 14, 15
SCAP_FD_FILE_V2 = 16
L4_TCP, L4_UDP = 2, 3
MAX_FDS_PER_PROCESS = 4096
_ANON = {"[eventfd]": SCAP_FD_EVENT, "[signalfd]": SCAP_FD_SIGNALFD, "[eventpoll]": SCAP_FD_EVENTPOLL,
         "inotify": SCAP_FD_INOTIFY, "[timerfd]": SCAP_FD_TIMERFD}


def _read(path: str, limit: int = 1 << 20) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _text(path: str) -> str:
    data = _read(path)
    return data.decode("utf-8", "surrogateescape") if data else ""


def _status(pid_dir: str) -> dict[str, str]:
    out = {}
    for line in _text(f"{pid_dir}/status").splitlines():
        key, _, val = line.partition(":")
        out[key] = val.strip()
    return out


def _nul_list(data: bytes | None) -> tuple[str, ...]:
    if not data:
        return ()
    return tuple(p.decode("utf-8", "surrogateescape") for p in data.rstrip(b"\0").split(b"\0"))


def _cgroups(pid_dir: str) -> tuple[str, ...]:
    out = []
    for line in _text(f"{pid_dir}/cgroup").splitlines():
        _hid, _, rest = line.partition(":")
        subsys, _, path = rest.partition(":")
        for name in (subsys.split(",") if subsys else ()):
            if name and not name.startswith("name="):
                out.append(f"{name}={path}")
    return tuple(out)


# ---- sockets -----------------------------------------------------------------
def _ip4(hexaddr: str) -> str:
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(hexaddr, 16)))


def _ip6(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))


def _net_table() -> dict[int, FdRecord]:
    """socket inode -> FdRecord template (fd number 0) from /proc/net."""
    out: dict[int, FdRecord] = {}
    for name, l4, v6 in (("tcp", L4_TCP, False), ("udp", L4_UDP, False),
                         ("tcp6", L4_TCP, True), ("udp6", L4_UDP, True)):
        lines = _text(f"{PROC}/net/{name}").splitlines()[1:]
        conv = _ip6 if v6 else _ip4
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            (la, lp), (ra, rp) = f[1].split(":"), f[2].split(":")
            inode = int(f[9])
            listening = (l4 == L4_TCP and f[3] == "0A") or (l4 == L4_UDP and int(ra, 16) == 0)
            if listening:
                ftype = SCAP_FD_IPV6_SERVSOCK if v6 else SCAP_FD_IPV4_SERVSOCK
                rec = FdRecord(0, ftype, sip=conv(la), sport=int(lp, 16), l4proto=l4)
            else:
                ftype = SCAP_FD_IPV6_SOCK if v6 else SCAP_FD_IPV4_SOCK
                rec = FdRecord(0, ftype, sip=conv(la), sport=int(lp, 16), dip=conv(ra),
                               dport=int(rp, 16), l4proto=l4)
            out[inode] = rec
    for line in _text(f"{PROC}/net/unix").splitlines()[1:]:
        f = line.split()
        if len(f) < 7:
            continue
        path = f[7] if len(f) > 7 else ""
        out[int(f[6])] = FdRecord(0, SCAP_FD_UNIX_SOCK, name=path, source=int(f[0].rstrip(":"), 16))
    return out


def _fds(pid_dir: str, net: dict[int, FdRecord]) -> tuple[FdRecord, ...]:
    try:
        names = os.listdir(f"{pid_dir}/fd")
    except OSError:
        return ()
    out = []
    for entry in names[:MAX_FDS_PER_PROCESS]:
        try:
            fd = int(entry)
            target = os.readlink(f"{pid_dir}/fd/{entry}")
        except (OSError, ValueError):
            continue
        flags = 0
        pos = _text(f"{pid_dir}/fdinfo/{entry}")
        for line in pos.splitlines():
            if line.startswith("flags:"):
                flags = int(line.split()[1], 8)
        if target.startswith("socket:["):
            inode = int(target[8:-1])
            tmpl = net.get(inode)
            if tmpl is None:
                out.append(FdRecord(fd, SCAP_FD_UNSUPPORTED, name=target, ino=inode))
            else:
                out.append(FdRecord(fd, tmpl.type, name=tmpl.name, flags=flags, ino=inode, sip=tmpl.sip,
                                    sport=tmpl.sport, dip=tmpl.dip, dport=tmpl.dport,
                                    l4proto=tmpl.l4proto, source=tmpl.source))
        elif target.startswith("pipe:["):
            out.append(FdRecord(fd, SCAP_FD_FIFO, name=target, flags=flags, ino=int(target[6:-1])))
        elif target.startswith("anon_inode:"):
            kind = target[len("anon_inode:"):]
            out.append(FdRecord(fd, _ANON.get(kind, SCAP_FD_UNSUPPORTED), name=target, flags=flags))
        elif target.startswith("/"):
            try:
                st = os.stat(f"{pid_dir}/fd/{entry}")
                ino, dev = st.st_ino, st.st_dev
                isdir = (st.st_mode & 0o170000) == 0o040000
            except OSError:
                ino = dev = 0
                isdir = False
            out.append(FdRecord(fd, SCAP_FD_DIRECTORY if isdir else SCAP_FD_FILE_V2, name=target,
                                flags=flags, ino=ino, dev=dev))
        else:
            out.append(FdRecord(fd, SCAP_FD_UNSUPPORTED, name=target, flags=flags))
    return tuple(out)


# ---- processes -----------------------------------------------------------------
def _process(pid: int, tid: int, net: dict[int, FdRecord] | None, clk_tck: int,
             boot_ns: int) -> ProcessRecord | None:
    pid_dir = f"{PROC}/{pid}/task/{tid}"
    stat = _text(f"{pid_dir}/stat")
    if not stat:
        return None
    rparen = stat.rfind(")")
    comm = stat[stat.find("(") + 1:rparen]
    fields = stat[rparen + 2:].split()
    st = _status(pid_dir)
    args = _nul_list(_read(f"{PROC}/{pid}/cmdline", 1 << 16))
    try:
        exepath = os.readlink(f"{PROC}/{pid}/exe")
    except OSError:
        exepath = ""
    try:
        cwd = os.readlink(f"{pid_dir}/cwd")
    except OSError:
        cwd = ""
    try:
        root = os.readlink(f"{PROC}/{pid}/root")
    except OSError:
        root = "/"
    uids = st.get("Uid", "0 0").split()
    gids = st.get("Gid", "0 0").split()
    nspid = st.get("NSpid", str(tid)).split()
    nstgid = st.get("NStgid", str(pid)).split()
    nspgid = st.get("NSpgid", fields[2] if len(fields) > 2 else "0").split()
    exe_ino = exe_ctime = exe_mtime = 0
    try:
        est = os.stat(f"{PROC}/{pid}/exe")
        exe_ino, exe_ctime, exe_mtime = est.st_ino, est.st_ctime_ns, est.st_mtime_ns
    except OSError:
        pass
    fdlimit = 0
    for line in _text(f"{PROC}/{pid}/limits").splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            fdlimit = -1 if soft == "unlimited" else int(soft)
    loginuid = _text(f"{pid_dir}/loginuid").strip()
    start_ticks = int(fields[19]) if len(fields) > 19 else 0
    return ProcessRecord(
        tid=tid, pid=pid, ptid=int(st.get("PPid", "0") or 0), comm=comm,
        # as libscap's /proc scan: a task other than the leader is a thread sharing the
        # leader's fds (sysdig then finds them through the main thread)
        flags=(CL_CLONE_THREAD | CL_CLONE_FILES) if tid != pid else 0,
        exe=args[0] if args else comm, exepath=exepath, args=args[1:], cwd=cwd,
        fdlimit=fdlimit, uid=int(uids[1]), gid=int(gids[1]),
        sid=int(fields[3]) if len(fields) > 3 else 0, vpgid=int(nspgid[-1]),
        vtid=int(nspid[-1]), vpid=int(nstgid[-1]),
        cgroups=_cgroups(pid_dir), root=root,
        env=_nul_list(_read(f"{PROC}/{pid}/environ", 1 << 16)),
        loginuid=int(loginuid) if loginuid.lstrip("-").isdigit() else 0xFFFFFFFF,
        exe_upper_layer=False, exe_from_memfd=exepath.startswith("/memfd:"),
        cap_inheritable=int(st.get("CapInh", "0"), 16), cap_permitted=int(st.get("CapPrm", "0"), 16),
        cap_effective=int(st.get("CapEff", "0"), 16),
        tty=int(fields[4]) if len(fields) > 4 else 0,
        clone_ts=boot_ns + start_ticks * 1_000_000_000 // clk_tck,
        exe_ino=exe_ino, exe_ino_ctime=exe_ctime, exe_ino_mtime=exe_mtime,
        vmsize_kb=int(st.get("VmSize", "0 kB").split()[0]), vmrss_kb=int(st.get("VmRSS", "0 kB").split()[0]),
        vmswap_kb=int(st.get("VmSwap", "0 kB").split()[0]),
        pfminor=int(fields[7]) if len(fields) > 7 else 0, pfmajor=int(fields[9]) if len(fields) > 9 else 0,
        fds=_fds(f"{PROC}/{pid}", net) if net is not None else (),
    )


def scan_processes(*, with_fds: bool = True) -> list[ProcessRecord]:
    clk_tck = os.sysconf("SC_CLK_TCK")
    boot_ns = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    net = _net_table() if with_fds else None
    out = []
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            tids = sorted(int(t) for t in os.listdir(f"{PROC}/{pid}/task"))
        except OSError:
            continue
        for tid in tids:
            rec = _process(pid, tid, net if tid == pid else None, clk_tck, boot_ns)
            if rec is not None:
                out.append(rec)
    return out


# ---- users, groups, interfaces -------------------------------------------------
def scan_users(path: str = "/etc/passwd") -> list[UserRecord]:
    out = []
    for line in _text(path).splitlines():
        f = line.split(":")
        if len(f) >= 7 and f[2].isdigit() and f[3].isdigit():
            out.append(UserRecord(uid=int(f[2]), gid=int(f[3]), name=f[0], homedir=f[5], shell=f[6]))
    return out


def scan_groups(path: str = "/etc/group") -> list[GroupRecord]:
    out = []
    for line in _text(path).splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[2].isdigit():
            out.append(GroupRecord(gid=int(f[2]), name=f[0]))
    return out


def scan_interfaces() -> list[InterfaceRecord]:
    out = []
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _idx, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                addr = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, req)[20:24])
                mask = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x891B, req)[20:24])
            except OSError:
                continue
            out.append(InterfaceRecord(name=name, family=socket.AF_INET, addr=addr, netmask=mask))
    finally:
        s.close()
    for line in _text(f"{PROC}/net/if_inet6").splitlines():
        f = line.split()
        if len(f) >= 6:
            out.append(InterfaceRecord(name=f[5], family=socket.AF_INET6, addr=_ip6_plain(f[0])))
    return out


def _ip6_plain(hexaddr: str) -> str:
    return socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr))


def machine_info() -> MachineInfo:
    mem = 0
    for line in _text(f"{PROC}/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) * 1024
    max_pid = _text(f"{PROC}/sys/kernel/pid_max").strip()
    return MachineInfo(hostname=socket.gethostname(), num_cpus=os.cpu_count() or 0,
                       memory_size_bytes=mem, max_pid=int(max_pid) if max_pid.isdigit() else 0,
                       boot_time_ns=time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME))


def scan_host(*, with_fds: bool = True, container_api: bool = True) -> StateSnapshot:
    """The whole start-up snapshot."""
    procs = scan_processes(with_fds=with_fds)
    found: dict[str, str] = {}
    for p in procs:
        hit = container_of(p.cgroups)
        if hit is not None:
            found.setdefault(hit[1], hit[0])
    containers = describe(found) if container_api else describe(found, sockets=())
    return StateSnapshot(processes=tuple(procs), users=tuple(scan_users()), groups=tuple(scan_groups()),
                         interfaces=tuple(scan_interfaces()), containers=tuple(containers),
                         machine=machine_info())
