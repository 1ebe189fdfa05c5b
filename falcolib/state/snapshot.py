"""Loading a StateSnapshot (capture state blocks, a /proc scan) into the State's tables.

As sysdig's sinsp_threadinfo::init(scap_threadinfo*) and add_fd_from_scap: threads get
their main thread's fd table, snapshot sockets get a role from the bound server ports
(fix_sockets_coming_from_proc), containers are resolved from cgroups.
"""
from __future__ import annotations

from falcolib.backend.model import StateSnapshot
from falcolib.state import fdinfo as F
from falcolib.state.containers import ContainerInfo
from falcolib.state.fdinfo import FdInfo
from falcolib.state.interfaces import Interfaces
from falcolib.state.paths import concatenate
from falcolib.state.threadinfo import (
    CL_ACTIVE, CL_CLONE_FILES, CL_CLONE_THREAD, ThreadInfo, parse_cgroups, split_env, split_nul,
)
from falcolib.state.users import groups_from_records, host_groups, host_users, users_from_records


def _with_slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def load_snapshot(self, snap: StateSnapshot, host: bool) -> None:
    """Fill ``self`` (a State) from a snapshot: users, groups, interfaces, containers, threads."""
    self.users = users_from_records(snap.users)
    self.groups = groups_from_records(snap.groups)
    if host and not self.users:
        self.users = host_users()
    if host and not self.groups:
        self.groups = host_groups()
    self.interfaces = snap.interfaces
    self.ifaces = Interfaces(snap.interfaces)
    self.machine = snap.machine
    for rec in snap.containers:
        self.containers.add(ContainerInfo.from_record(rec))
    for rec in snap.processes:
        if len(self.threads) >= self.max_threads:
            self.dropped_threads += 1
            continue
        self.threads[rec.tid] = thread_from_record(self, rec)
    fix_sockets(self)
    # threads share their main thread's fd table; count each process' threads
    for t in self.threads.values():
        if not t.is_main:
            main = self.threads.get(t.pid)
            if main is not None:
                main.nchilds += 1
                if t.flags & CL_CLONE_FILES:
                    t.fds = main.fds

def fix_sockets(self) -> None:
    """Give snapshot ipv4 sockets a role: server if their local port is a bound
    server port of any process (sysdig's fix_sockets_coming_from_proc)."""
    ports = {fi.sport for t in self.threads.values() for fi in t.fds.values()
             if fi.type in F.SERVSOCK}
    for t in self.threads.values():
        for fi in t.fds.values():
            if fi.type == F.FD_IPV4_SOCK:
                if fi.sport in ports:
                    fi.sip, fi.sport, fi.dip, fi.dport = fi.dip, fi.dport, fi.sip, fi.sport
                    fi.name = f"{fi.sip}:{fi.sport}->{fi.dip}:{fi.dport}"
                    fi.flags |= F.FLAGS_ROLE_SERVER
                else:
                    fi.flags |= F.FLAGS_ROLE_CLIENT

def thread_from_record(self, rec) -> ThreadInfo:
    t = ThreadInfo(rec.tid, rec.pid, rec.ptid, rec.comm, rec.exe, rec.exepath,
                   split_nul(rec.args), (), "", rec.root or "/")
    t.sid = rec.sid
    t.vpgid = rec.vpgid
    t.exe_writable = rec.exe_writable
    t.exe_upper_layer = rec.exe_upper_layer
    t.exe_from_memfd = rec.exe_from_memfd
    t.flags = rec.flags | CL_ACTIVE
    if rec.tid != rec.pid and not (rec.flags & CL_CLONE_THREAD) and rec.flags == 0:
        t.flags |= CL_CLONE_THREAD | CL_CLONE_FILES
    if t.is_main:
        t.env = split_env(rec.env)
        t.cwd = _with_slash(concatenate("", rec.cwd))
    t.fdlimit = rec.fdlimit
    t.uid = rec.uid
    t.gid = rec.gid
    t.vmsize_kb, t.vmrss_kb, t.vmswap_kb = rec.vmsize_kb, rec.vmrss_kb, rec.vmswap_kb
    t.pfmajor, t.pfminor = rec.pfmajor, rec.pfminor
    t.vtid, t.vpid = rec.vtid, rec.vpid
    t.clone_ts = rec.clone_ts
    t.tty = rec.tty
    t.loginuid = rec.loginuid
    t.cap_inheritable, t.cap_permitted, t.cap_effective = \
        rec.cap_inheritable, rec.cap_permitted, rec.cap_effective
    t.exe_ino, t.exe_ino_ctime, t.exe_ino_mtime = \
        rec.exe_ino, rec.exe_ino_ctime, rec.exe_ino_mtime
    t.pidns_init_start_ts = rec.pidns_init_start_ts
    t.cgroups = parse_cgroups(rec.cgroups)
    t.container_id = self.containers.resolve(t.cgroups)
    for fr in rec.fds:
        fi = fd_from_record(fr)
        if fi is not None and len(t.fds) < self.max_fds:
            t.fds[fr.fd] = fi
    return t


def fd_from_record(fr) -> FdInfo | None:
    """An FdInfo from a capture fd-list entry (sysdig's add_fd_from_scap)."""
    fi = FdInfo(fr.type, "", 0, F.FLAGS_FROM_PROC, fr.ino)
    ftype = fr.type
    if ftype == F.FD_IPV4_SOCK or ftype == F.FD_IPV6_SOCK:
        fi.sip, fi.sport, fi.dip, fi.dport = fr.sip or "", fr.sport or 0, fr.dip or "", fr.dport or 0
        fi.l4proto = fr.l4proto
        if ftype == F.FD_IPV6_SOCK and fi.sip.startswith("::ffff:") and fi.dip.startswith("::ffff:") \
                and "." in fi.sip and "." in fi.dip:
            fi.type = F.FD_IPV4_SOCK
            fi.sip, fi.dip = fi.sip[7:], fi.dip[7:]
        if fr.l4proto == F.L4_TCP:
            fi.flags |= F.FLAGS_SOCKET_CONNECTED
        fi.name = f"{fi.sip}:{fi.sport}->{fi.dip}:{fi.dport}"
    elif ftype == F.FD_IPV4_SERVSOCK or ftype == F.FD_IPV6_SERVSOCK:
        fi.sip, fi.sport, fi.l4proto = fr.sip or "", fr.sport or 0, fr.l4proto
        fi.name = f"{fi.sip}:{fi.sport}"
    elif ftype == F.FD_UNIX_SOCK:
        fi.usrc, fi.udst = fr.source, fr.dest
        fi.name = fr.name
        fi.flags |= F.FLAGS_ROLE_CLIENT if not fr.name else F.FLAGS_ROLE_SERVER
    elif ftype == F.FD_FILE_V2:
        fi.openflags = fr.flags
        fi.name = fr.name
        fi.dev = fr.dev
        fi.mount_id = fr.mount_id
    elif ftype == F.FD_UNKNOWN:
        return None
    else:
        fi.name = fr.name
    return fi
