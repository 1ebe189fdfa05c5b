"""Real attacks on files raise Falco's incubating and sandbox rules through `falcolib run`:
files written, read, renamed, removed, chmod-ed and directories made, by every syscall the
rules' conditions name.

The three official rule files run unmodified on the live eBPF backend with a tuning file of
the kind a Falco user writes (live_attacks.TUNE: the sandbox's disabled rules enabled, the
template lists filled) and rule_matching=all, so that no earlier rule hides a later one.
Each test performs one attack for real and checks the alert's fields that identify it.
Files below system directories are written in a private mount namespace on a tmpfs
(live_attacks.FS_SCRIPT): the paths are the real ones, the host's files are untouched.
"""
from __future__ import annotations

import os

import pytest

from .conftest import Monitor
from .live_attacks import live_range, marker, run

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def rng(tmp_path_factory):
    with live_range(tmp_path_factory.mktemp("attacks"), Monitor) as r:
        yield r


class TestHostFileRules:
    """Files written, read, renamed, chmod-ed by host processes."""

    def test_modify_shell_configuration_file(self, rng):
        path = rng.work / marker() / ".bashrc"
        path.parent.mkdir()
        a = rng.expect("Modify Shell Configuration File", lambda: path.open("a").close(),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_read_shell_configuration_file(self, rng):
        path = rng.work / marker() / ".zshrc"
        path.parent.mkdir()
        path.write_text("")
        a = rng.expect("Read Shell Configuration File", lambda: path.open().close(),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None

    def test_delete_shell_history(self, rng):
        path = rng.work / marker() / ".bash_history"
        path.parent.mkdir()

        def attack():
            path.write_text("history\n")
            os.rename(path, path.with_suffix(".old"))
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.oldpath"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_set_setuid_bit(self, rng):
        path = rng.work / f"suid{marker()}"
        path.write_text("")
        a = rng.expect("Set Setuid or Setgid bit", lambda: os.chmod(path, 0o4755),
                       lambda f: f["evt.arg.filename"] == str(path))
        assert a is not None
        assert "S_ISUID" in a["output_fields"]["evt.arg.mode"]

    def test_create_hidden_directory(self, rng):
        path = rng.work / f".hidden{marker()}"
        code = f"import os; os.makedirs({str(path)!r}, exist_ok=True)"
        a = rng.expect("Create Hidden Files or Directories",
                       lambda: run([rng.python_as("hider"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"hider -c {code}")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "mkdir"

    def test_sshd_loads_backdoored_liblzma(self, rng):
        lib = rng.work / marker() / "liblzma.so.5.6.1"
        lib.parent.mkdir()
        lib.write_text("")
        a = rng.expect("Backdoored library loaded into SSHD (CVE-2024-3094)",
                       lambda: run([rng.python_as("sshd"), "-c", f"open({str(lib)!r}).close()"]),
                       lambda f: f["fd.name"] == str(lib))
        assert a is not None
        assert a["output_fields"]["proc.name"] == "sshd"

    def test_create_file_below_dev(self, rng):
        path = f"/dev/falcolib-{marker()}"
        a = rng.expect("Create files below dev", lambda: rng.in_tmpfs("/dev", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["proc.name"] == "fsprobe"

    def test_read_ssh_information(self, rng):
        key = f"/home/falcolib-{marker()}/.ssh/id_ed25519"
        a = rng.expect("Read ssh information",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{os.path.dirname(key)}",
                                            f"write:{key}", f"read:{key}"),
                       lambda f: f["fd.name"] == key)
        assert a is not None

    def test_adding_ssh_authorized_keys(self, rng):
        keys = f"/home/falcolib-{marker()}/.ssh/authorized_keys"
        a = rng.expect("Adding ssh keys to authorized_keys",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{os.path.dirname(keys)}", f"write:{keys}"),
                       lambda f: f["fd.name"] == keys)
        assert a is not None

    def test_write_below_monitored_dir(self, rng):
        path = f"/usr/local/bin/falcolib-{marker()}"
        a = rng.expect("Write below monitored dir", lambda: rng.in_tmpfs("/usr/local/bin", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_update_package_repository(self, rng):
        path = f"/etc/apt/sources.list.d/falcolib-{marker()}.list"
        a = rng.expect("Update Package Repository",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/apt/sources.list.d", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_binary_dir(self, rng):
        path = f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Write below binary dir", lambda: rng.in_tmpfs("/usr/bin", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_etc(self, rng):
        path = f"/etc/falcolib-{marker()}.conf"
        a = rng.expect("Write below etc", lambda: rng.in_tmpfs("/etc", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["proc.name"] == "fsprobe"

    def test_write_below_root(self, rng):
        path = f"/root/falcolib-{marker()}"
        a = rng.expect("Write below root", lambda: rng.in_tmpfs("/root", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_write_below_rpm_database(self, rng):
        path = f"/var/lib/rpm/falcolib-{marker()}"
        a = rng.expect("Write below rpm database",
                       lambda: rng.in_tmpfs("/var/lib", "mkdir:/var/lib/rpm", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None

    def test_modify_binary_dirs(self, rng):
        old, new = f"/usr/bin/falcolib-{marker()}", f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{old}", f"rename:{old}:{new}"),
                       lambda f: f"{old}" in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_mkdir_binary_dirs(self, rng):
        path = f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", f"mkdir:{path}"),
                       lambda f: f["evt.arg.path"] == path)
        assert a is not None


class TestOtherSyscalls:
    """The same rules reached through the other syscalls their conditions name (real tools use them)."""

    def test_setuid_bit_by_chmod_tool(self, rng):
        path = rng.work / f"suid{marker()}"
        path.write_text("")
        a = rng.expect("Set Setuid or Setgid bit", lambda: run(["chmod", "u+s,g+s", str(path)]),
                       lambda f: f["evt.arg.filename"] == str(path))
        assert a is not None
        assert a["output_fields"]["evt.type"] == "fchmodat"
        assert "S_ISGID" in a["output_fields"]["evt.arg.mode"]

    def test_setuid_bit_by_fchmod(self, rng):
        path = rng.work / f"suid{marker()}"
        path.write_text("")
        code = f"import os; os.fchmod(os.open({str(path)!r}, os.O_RDONLY), 0o2755)"
        a = rng.expect("Set Setuid or Setgid bit", lambda: run([rng.python_as("fchmoder"), "-c", code]),
                       lambda f: f["proc.cmdline"] == f"fchmoder -c {code}")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "fchmod"
        assert "S_ISGID" in a["output_fields"]["evt.arg.mode"]

    def test_shell_history_removed_by_rm(self, rng):
        path = rng.work / marker() / ".zsh_history"
        path.parent.mkdir()

        def attack():
            path.write_text("")
            run(["rm", "-f", str(path)])
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.name"] == str(path) and f["proc.name"] == "rm")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "unlinkat"

    def test_shell_history_moved_by_mv(self, rng):
        path = rng.work / marker() / ".bash_history"
        path.parent.mkdir()

        def attack():
            path.write_text("")
            run(["mv", str(path), str(path.parent / "gone")])
        a = rng.expect("Delete or rename shell history", attack,
                       lambda f: f["evt.arg.oldpath"] == str(path) and f["proc.name"] == "mv")
        assert a is not None
        assert a["output_fields"]["evt.type"] in ("renameat2", "rename", "renameat")

    def test_shell_history_truncated(self, rng):
        path = rng.work / marker() / ".bash_history"
        path.parent.mkdir()
        path.write_text("ls\n")
        code = f"open({str(path)!r}, 'w').close()"   # O_TRUNC: truncate_shell_history
        a = rng.expect("Delete or rename shell history", lambda: run([rng.python_as("wiper"), "-c", code]),
                       lambda f: f["fd.name"] == str(path) and f["proc.name"] == "wiper")
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_binary_dir_file_removed_by_unlinkat(self, rng):
        path = f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{path}", f"unlinkat:{path}"),
                       lambda f: path in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "unlinkat"

    def test_binary_dir_file_moved_by_renameat2(self, rng):
        old, new = f"/usr/bin/falcolib-{marker()}", f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", f"write:{old}", f"renameat2:{old}:{new}"),
                       lambda f: old in f["evt.args"])
        assert a is not None
        assert a["output_fields"]["evt.type"] == "renameat2"

    def test_binary_dir_mkdirat(self, rng):
        path = f"/usr/bin/falcolib-{marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", f"mkdirat:{path}"),
                       lambda f: f["evt.arg.path"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "mkdirat"

    def test_binary_dir_relative_rename(self, rng):
        old, new = f"falcolib-{marker()}", f"falcolib-{marker()}"
        a = rng.expect("Modify binary dirs",
                       lambda: rng.in_tmpfs("/usr/bin", "chdir:/usr/bin", f"write:{old}",
                                            f"rename:{old}:{new}"),
                       lambda f: f["evt.type"] == "rename" and old in f["evt.args"])
        assert a is not None

    def test_binary_dir_relative_mkdir(self, rng):
        name = f"falcolib-{marker()}"
        a = rng.expect("Mkdir binary dirs", lambda: rng.in_tmpfs("/usr/bin", "chdir:/usr/bin", f"mkdir:{name}"),
                       lambda f: f["evt.arg.path"] == f"/usr/bin/{name}")
        assert a is not None

    def test_file_below_dev_by_openat2(self, rng):
        path = f"/dev/falcolib-{marker()}"
        a = rng.expect("Create files below dev", lambda: rng.in_tmpfs("/dev", f"openat2:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat2"

    def test_cron_file_written(self, rng):
        path = f"/etc/cron.d/falcolib-{marker()}"
        a = rng.expect("Schedule Cron Jobs",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/cron.d", f"write:{path}"),
                       lambda f: f["fd.name"] == path)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "openat"

    def test_ssh_directory_listed(self, rng):
        ssh = f"/home/falcolib-{marker()}/.ssh/keys"
        a = rng.expect("Read ssh information",
                       lambda: rng.in_tmpfs("/home", f"mkdir:{ssh}", f"listdir:{ssh}"),
                       lambda f: f["fd.name"] == ssh)
        assert a is not None

    def test_repository_renamed_into_place(self, rng):
        tmp, final = "/etc/apt/new.tmp", f"/etc/apt/sources.list.d/falcolib-{marker()}.list"
        a = rng.expect("Update Package Repository",
                       lambda: rng.in_tmpfs("/etc", "mkdir:/etc/apt/sources.list.d", f"write:{tmp}",
                                            f"rename:{tmp}:{final}"),
                       lambda f: f["evt.arg.newpath"] == final)
        assert a is not None
        assert a["output_fields"]["evt.type"] == "rename"

    def test_hidden_file_renamed(self, rng):
        src = rng.work / f"plain{marker()}"
        dst = rng.work / f".{src.name}"
        src.write_text("")
        a = rng.expect("Create Hidden Files or Directories", lambda: run(["mv", str(src), str(dst)]),
                       lambda f: f["evt.arg.newpath"] == str(dst))
        assert a is not None

    def test_hidden_file_created(self, rng):
        path = rng.work / f".dot{marker()}"
        a = rng.expect("Create Hidden Files or Directories", lambda: run(["touch", str(path)]),
                       lambda f: f["fd.name"] == str(path))
        assert a is not None
        assert a["output_fields"]["proc.name"] == "touch"
