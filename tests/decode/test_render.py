"""sysdig's parameter text: numbers, flags, errnos, buffers, addresses."""
from __future__ import annotations

import socket
import struct

from falcolib.decode import Event
from falcolib.decode.flags import SYSDIG_TABLES, errno_name, flags_text
from falcolib.decode.args import render_arg, render_rawarg
from falcolib.decode.render import dots, number, render_args


def _q(v):
    return struct.pack("<q", v)


def _i(v):
    return struct.pack("<I", v)


class FakeCtx:
    """The two render hooks the state engine provides."""

    def fd_label(self, tid, fd):
        return "<f>/etc/passwd" if fd == 3 else None

    def thread_comm(self, tid):
        return "cat" if tid == 42 else None


class TestPrimitives:
    """Number formats, flag names and errno names as sysdig prints them."""

    def test_number_formats(self):
        assert number(0o644, "PT_UINT32", "PF_OCT") == "0644"
        assert number(0, "PT_UINT32", "PF_OCT") == "0"
        assert number(0x7FAD48782000, "PT_UINT64", "PF_HEX") == "7FAD48782000"
        assert number(0xFFFFFFFF, "PT_UINT32", "PF_DEC") == "-1"    # %d of a uint32
        assert number(2**64 - 1, "PT_UINT64", "PF_DEC") == "-1"     # PRId64 of a uint64
        assert number(200, "PT_UINT8", "PF_DEC") == "200"

    def test_open_flags(self):
        t = SYSDIG_TABLES["file_flags"]
        assert flags_text(t, 4097) == "O_RDONLY|O_CLOEXEC"
        assert flags_text(t, 1) == "O_RDONLY"
        assert flags_text(SYSDIG_TABLES["prot_flags"], 0) == "PROT_NONE"

    def test_remembered_texts_are_the_computed_ones(self):
        """flags_text remembers what it rendered: asked twice, for every table and value
        mix (a table's own values and their combinations), it answers as the first time,
        and the memory stays bounded."""
        from falcolib.decode import flags
        for table in SYSDIG_TABLES.values():
            values = [v for _, v in table] + [0, 1, 0xFFFFFFFF]
            values += [a | b for a in values[:12] for b in values[:12]]
            first = [flags._flags_text(table, v) if table else "" for v in values]
            assert [flags_text(table, v) for v in values] == first
            assert [flags_text(table, v) for v in values] == first
        for v in range(2 * flags._TEXTS_MAX):
            flags_text(SYSDIG_TABLES["file_flags"], v)
        assert all(len(texts) <= flags._TEXTS_MAX for _, texts in flags._TEXTS.values())

    def test_errno(self):
        assert errno_name(-2) == "ENOENT"
        assert errno_name(-512) == "ERESTARTSYS"
        assert errno_name(-9999) == ""

    def test_dots_truncates_to_80(self):
        assert dots(b"a\x00b") == "a.b"
        s = dots(bytes(range(256)))
        assert len(s) == 80 and s.endswith("...")


class TestEvents:
    """Whole-event rendering, with and without a state context."""

    def test_open_exit(self, raw_event):
        e = Event(raw_event(3, [_q(3), b"/etc/passwd\0", _i(4097), _i(0), _i(0), _q(0)]))
        assert render_args(e) == "fd=3 name=/etc/passwd flags=4097(O_RDONLY|O_CLOEXEC) mode=0 dev=0 "
        assert render_args(e, FakeCtx()).startswith("fd=3(<f>/etc/passwd) ")
        assert render_arg(e, "fd", FakeCtx()) == "<f>/etc/passwd"
        assert render_arg(e, "flags") == "O_RDONLY|O_CLOEXEC"
        assert render_arg(e, 0) == "3" and render_arg(e, 9) is None
        assert render_rawarg(e, "flags") == 4097

    def test_failed_access(self, raw_event):
        e = Event(raw_event(265, [_q(-2), b"/etc/ld.so.nohwcap\0"]))  # access exit (sysdig 0.29 layout)
        assert render_args(e) == "res=-2(ENOENT) name=/etc/ld.so.nohwcap "
        assert render_rawarg(e, "res") == -2

    def test_connect_tuple(self, raw_event):
        tup = (bytes([2]) + socket.inet_aton("127.0.0.1") + struct.pack("<H", 40000)
               + socket.inet_aton("127.0.0.1") + struct.pack("<H", 2345))
        e = Event(raw_event(23, [_q(0), tup]))
        assert render_args(e) == "res=0 tuple=127.0.0.1:40000->127.0.0.1:2345 "

    def test_pid_suffix_and_generic(self, raw_event):
        e = Event(raw_event(129, [_q(0)]))  # kill exit res
        assert render_args(e) == "res=0 "
        e = Event(raw_event(0, [struct.pack("<H", 5), struct.pack("<H", 2)]))
        assert e.name == "open" and render_args(e) == ""


class TestRenderArgByName:
    """render_arg remembers where each (type, name) parameter is: on every event of real
    captures, each name and each number answers as arg_index + param_text do."""

    def test_remembered_slots_answer_as_arg_index(self, shared_dir):
        from falcolib.decode import args, render
        from falcolib.decode.table import EVENTS, SYSDIG_EVENTS
        from falcolib.scap.reader import ScapReader
        checked = 0
        for name in ("cat_write.scap", "connect_localhost.scap", "curl_google.scap"):
            with ScapReader(shared_dir / "captures" / name) as reader:
                for raw in reader.events():
                    evt = Event(raw)
                    t = evt.type
                    names = {p.name for p in EVENTS[t].params}
                    if t < len(SYSDIG_EVENTS):
                        names |= {p.name for p in SYSDIG_EVENTS[t].params}
                    for key in sorted(names) + ["nosuchparam", 0, 1, 7, -1]:
                        i = args.arg_index(evt, key)
                        want = None if i is None else (lambda tr: tr[1] or tr[0])(
                            render.param_text(evt, i, None))
                        assert args.render_arg(evt, key) == want, (evt.num, key)
                        assert args.render_arg(evt, key) == want, (evt.num, key)
                        checked += 1
        assert checked > 1000
