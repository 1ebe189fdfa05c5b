"""The protocol constants agree with the driver sources they were taken from."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from falcolib_kmod import protocol as P

DKMS = Path("/usr/src/scap-0.1.1dev+git20220316.e5c53d64")
LIBS = Path("/work/.mirror/falcosecurity+libs/repo")


def _legacy(name: str) -> str:
    path = DKMS / name
    if not path.exists():
        pytest.skip(f"{path} not installed (apt-get install falcosecurity-scap-dkms)")
    return path.read_text()


def _current(name: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(LIBS), "show", f"HEAD:driver/{name}"],
                              check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("falcosecurity/libs mirror not available")


def _ioctls(header: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r"^#define PPM_IOCTL_(\w+)\s+(?:\\\n\s*)?_IO\(PPM_IOCTL_MAGIC,\s*(\d+)\)", header, re.M)}


def _info_fields(header: str) -> list[tuple[str, int]]:
    body = header[header.index("struct ppm_ring_buffer_info {"):]
    body = body[:body.index("};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [(name, 4 if "32" in ctype else 8)
            for ctype, name in re.findall(r"volatile\s+(\w+)\s+(\w+);", body)]


def _offsets(fields):
    out, at = {}, 0
    for name, size in fields:
        at += -at % size
        out[name] = at
        at += size
    return out, at


class TestIoctlCodes:
    """Every ioctl falcolib sends has the code the driver defines."""

    @pytest.mark.parametrize("source", ["legacy", "current"])
    def test_codes(self, source):
        header = _legacy("ppm_events_public.h") if source == "legacy" else _current(
            "ppm_events_public.h")
        defined = _ioctls(header)
        ours = {name: value for value, name in P.IOCTL_NAMES.items()}
        used = {"legacy": ["DISABLE_CAPTURE", "ENABLE_CAPTURE", "SET_SNAPLEN", "MASK_ZERO_EVENTS",
                           "MASK_SET_EVENT", "GET_API_VERSION", "GET_SCHEMA_VERSION"],
                "current": ["SET_SNAPLEN", "GET_API_VERSION", "GET_SCHEMA_VERSION",
                            "ENABLE_SYSCALL", "DISABLE_SYSCALL", "ENABLE_TP", "DISABLE_TP"]}[source]
        for name in used:
            assert ours[name] == (ord("s") << 8) | defined[name], name

    def test_current_tracepoint_order(self):
        header = _current("ppm_tp.h")
        names = re.findall(r"X\((KMOD_PROG_\w+),", header)
        assert names.index("KMOD_PROG_SYS_EXIT") == P.TP_SYS_EXIT
        assert names.index("KMOD_PROG_SCHED_PROC_EXEC") == P.TP_SCHED_PROC_EXEC
        assert len(names) == len(P.TRACEPOINTS)


class TestInfoLayout:
    """The info struct offsets match the C struct of each supported driver."""

    @pytest.mark.parametrize("source,layout", [("legacy", P.LEGACY_INFO),
                                               ("current", P.CURRENT_INFO)])
    def test_offsets(self, source, layout):
        header = _legacy("ppm_ringbuffer.h") if source == "legacy" else _current("ppm_ringbuffer.h")
        offsets, size = _offsets(_info_fields(header))
        assert size == layout.size
        assert offsets["head"] == layout.HEAD and offsets["tail"] == layout.TAIL
        assert offsets["n_evts"] == layout.N_EVTS
        assert offsets["n_drops_buffer"] == layout.N_DROPS_BUFFER
        assert offsets["n_drops_pf"] == layout.n_drops_pf
        assert offsets["n_preemptions"] == layout.n_preemptions
        assert offsets["n_context_switches"] == layout.n_context_switches

    def test_legacy_ring_size(self):
        header = _legacy("ppm_ringbuffer.h")
        m = re.search(r"RING_BUF_SIZE = (\d+) \* (\d+) \* (\d+);", header)
        assert int(m.group(1)) * int(m.group(2)) * int(m.group(3)) == P.LEGACY_RING_BUF_SIZE


class TestVersions:
    """API versions pack as ppm_api_version.h says, and only known majors are accepted."""

    def test_pack_matches_driver_macro(self):
        # PPM_API_VERSION(major, minor, patch): major << 44 | minor << 24 | patch
        assert P.pack_version(1, 0, 0) == 1 << 44
        assert P.unpack_version(P.pack_version(10, 1, 0)) == (10, 1, 0)
        assert P.version_text(P.pack_version(8, 0, 4)) == "8.0.4"

    def test_driver_versions_of_the_sources(self):
        config = _legacy("driver_config.h")
        major = int(re.search(r"PPM_API_CURRENT_VERSION_MAJOR (\d+)", config).group(1))
        assert P.protocol_for(P.pack_version(major, 0, 0), 0).legacy
        current = _current("API_VERSION").strip().split(".")
        proto = P.protocol_for(P.pack_version(*map(int, current)), 0)
        assert not proto.legacy and proto.info == P.CURRENT_INFO

    @pytest.mark.parametrize("version", [(2, 0, 0), (8, 0, 4), (9, 1, 0), (11, 0, 0)])
    def test_refuses_other_majors(self, version):
        with pytest.raises(P.IncompatibleDriver, match=P.version_text(P.pack_version(*version))):
            P.protocol_for(P.pack_version(*version), P.pack_version(4, 0, 0))

    def test_buffer_dim_rule(self):
        assert P.valid_buffer_bytes_dim(16384, 4096)
        assert not P.valid_buffer_bytes_dim(8192, 4096)        # not above 2 pages
        assert not P.valid_buffer_bytes_dim(3 * 16384, 4096)   # not a power of 2
