"""Without root: BTF offsets match bpftool, the syscall table matches the event table."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from falcolib.decode.table import EVENT_NPARAMS, EVENTS, types_named
from falcolib_ebpf import syscalls as S
from falcolib_ebpf.btf import VMLINUX, Btf, BtfError
from falcolib_ebpf.containers import container_of

HEX = "0123456789abcdef" * 4


@pytest.fixture(scope="module")
def btf():
    if not os.access(VMLINUX, os.R_OK):
        pytest.skip("no kernel BTF here")
    return Btf.from_file()


def bpftool_members(struct: str) -> dict[str, int]:
    """member -> byte offset, as ``bpftool btf dump`` prints them."""
    out = subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "raw"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(rf"^\[\d+\] STRUCT '{struct}' size=\d+ vlen=(\d+)\n((?:\t.*\n)+)", out, re.M)
    members = {}
    for line in m.group(2).splitlines():
        mm = re.match(r"\t'([^']*)' type_id=\d+ bits_offset=(\d+)", line)
        if mm and mm.group(1) != "(anon)":
            members[mm.group(1)] = int(mm.group(2)) // 8
    return members


class TestBtf:
    """offsets read by the Python BTF parser are the kernel's (bpftool as the oracle)."""

    @pytest.mark.skipif(shutil.which("bpftool") is None, reason="bpftool not installed")
    @pytest.mark.parametrize("struct", ["task_struct", "cred", "file", "dentry", "pid", "kernfs_node"])
    def test_matches_bpftool(self, btf, struct):
        expected = bpftool_members(struct)
        assert expected
        for name, off in expected.items():
            assert btf.offset(struct, name) == off, name

    def test_nested_and_anonymous_members(self, btf):
        # d_name is a struct qstr whose 'name' follows an anonymous union
        assert btf.offset("dentry", "d_name.name") == btf.offset("dentry", "d_name") + 8
        assert btf.field("sock", "__sk_common.skc_num").size == 2
        assert btf.struct_size("upid") == 16

    def test_missing_member_is_an_error(self, btf):
        with pytest.raises(BtfError, match="no member 'no_such_field'"):
            btf.offset("task_struct", "no_such_field")
        assert not btf.has("task_struct", "no_such_field")

    def test_enum_values(self, btf):
        ids = btf.enum_values("cgroup_subsys_id")
        assert ids["cpuset_cgrp_id"] == 0 and "memory_cgrp_id" in ids

    def test_bad_blob(self):
        with pytest.raises(BtfError, match="bad magic"):
            Btf(b"\0" * 32)

    def test_every_probe_offset_resolves(self, btf):
        from falcolib_ebpf.program import _OFFSETS, kernel_offsets
        offs = kernel_offsets(btf)
        assert set(_OFFSETS) <= set(offs)
        assert offs["O_TASK_COMM"] == btf.offset("task_struct", "comm")


# syscalls sysdig 0.29 has no event for; the probe writes the current libs' events
NEWER_THAN_SYSDIG = {"init_module", "finit_module", "bpf"}


class TestSyscallTable:
    """every event the probe writes has the type, name and parameter count of the table."""

    @pytest.mark.parametrize("sc", S.SYSCALLS, ids=lambda s: s.name)
    def test_layouts(self, sc):
        (ecode, eops), (xcode, _xops) = sc.enter, sc.exit
        assert EVENTS[ecode].dir == ">" and EVENTS[xcode].dir == "<"
        assert EVENTS[ecode].name == EVENTS[xcode].name
        if sc.name in NEWER_THAN_SYSDIG:
            assert ecode >= 336 and xcode >= 336   # events of the current libs table only
        else:
            assert ecode < 336 and xcode < 336     # what Debian's sysdig 0.29 reads
        assert len(eops) == EVENT_NPARAMS[ecode]
        n = S.exit_nparams(sc)
        # execve: every parameter but the last (filename, known only at entry)
        assert n == EVENT_NPARAMS[xcode] - (1 if sc.name == "execve" else 0)

    def test_official_rule_syscalls_are_covered(self):
        covered = {EVENTS[sc.exit[0]].name for sc in S.SYSCALLS} | set(S.ALIASES)
        covered |= {sc.name for sc in S.SYSCALLS}
        rules = {"open", "openat", "openat2", "creat", "execve", "execveat", "connect", "accept",
                 "accept4", "listen", "socket", "sendto", "sendmsg", "recvfrom", "recvmsg",
                 "rename", "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat",
                 "chmod", "fchmod", "fchmodat", "symlink", "symlinkat", "link", "linkat", "dup",
                 "dup2", "dup3", "ptrace", "setuid", "setns", "unshare", "bpf", "userfaultfd",
                 "read", "write", "init_module", "finit_module"}
        assert rules <= covered

    def test_raw_exit_handler_only_without_tracepoint(self):
        """init_module's exit comes from raw_syscalls:sys_exit, filtered on its number,
        only where the kernel has no syscalls:sys_exit_init_module (no CONFIG_MODULES)."""
        from falcolib_ebpf import program as P
        src = S.generate_c({sc.name: i for i, sc in enumerate(S.SYSCALLS)})
        assert "if (nr == 175) return body_init_module(ctx);" in src
        assert "if (nr == 313) return body_finit_module(ctx);" in src
        assert P.handlers().count("fr_raw") == 1
        present = P._has_tracepoint("syscalls:sys_exit_init_module")
        for name in ("init_module", "finit_module"):
            hooks = P.ProbeProgram._hooks_for(None, name)
            assert hooks == ([(f"syscalls:sys_exit_{name}", f"fx_{name}")] if present
                             else [("raw_syscalls:sys_exit", "fr_raw")])
        assert P.ProbeProgram._hooks_for(None, "openat") == [("syscalls:sys_exit_openat", "fx_openat")]

    def test_live_hooks_for_the_official_rules(self, shared_dir):
        """A live run with the official rules hooks each syscall's enter only when the
        enter the probe writes is wanted: no openat enter (the state keeps the older
        PPME_SYSCALL_OPENAT_E layout's enter for captures, which the probe never writes),
        and no read/write at all (Falco's high-volume syscalls, no rule names them)."""
        from falcolib.engine import Engine
        from falcolib.rules import load_rules
        from falcolib_ebpf import EbpfBackend
        from falcolib_ebpf import program as P
        rules = sorted((shared_dir / "rules").glob("*.yaml"))
        types = Engine(load_rules(rules)).wanted_types(True, high_volume=False)
        wanted = EbpfBackend(types)._wanted()
        assert wanted["openat"] & (P.F_ENTER | P.F_EXIT) == P.F_EXIT
        assert wanted["execve"] & P.F_ENTER and wanted["connect"] & P.F_ENTER
        assert not wanted["read"] and not wanted["write"]
        for sc in S.SYSCALLS:   # every enter hooked is one the consumer gets
            if wanted[sc.name] & P.F_ENTER:
                assert sc.enter[0] in types, sc.name

    def test_generated_c_has_one_handler_per_syscall(self):
        slots = {sc.name: i for i, sc in enumerate(S.SYSCALLS)}
        src = S.generate_c(slots)
        assert src.count("int fx_") == len(S.SYSCALLS)
        assert src.count("int fe_") == 2  # execve, execveat read their strings at entry


class TestContainerIds:
    """container ids and runtimes come out of every cgroup layout we know."""

    @pytest.mark.parametrize("path,runtime", [
        (f"/libpod_parent/libpod-{HEX}", "podman"),
        (f"/machine.slice/libpod-{HEX}.scope/container", "podman"),
        (f"/docker/{HEX}", "docker"),
        (f"/system.slice/docker-{HEX}.scope", "docker"),
        (f"/kubepods.slice/kubepods-pod1.slice/cri-containerd-{HEX}.scope", "containerd"),
        (f"/kubepods/besteffort/pod1234/{HEX}", "containerd"),
        (f"/kubepods.slice/crio-{HEX}.scope", "cri-o"),
    ])
    def test_patterns(self, path, runtime):
        assert container_of([f"cpu={path}"]) == (runtime, HEX)

    def test_host_and_conmon(self):
        assert container_of(["cpu=/", "memory=/user.slice"]) is None
        assert container_of([f"cpu=/libpod_parent/libpod-conmon-{HEX}"]) is None

    def test_types_named_round_trip(self):
        assert {124, 125} <= types_named("dup")
