#!/usr/bin/env python3
"""Generate falcolib/decode/_data.py from the falcosecurity/libs driver sources.

The driver describes its events as C initializers (event_table.c), its
flag/enum name tables as arrays of {name, value} (flags_table.c), its
dynamic parameter variants (dynamic_params_table.c) and its constants as
#defines and enums (ppm_events_public.h). This script reads those facts
with a small C-initializer reader and writes them as plain Python tuples.

Two versions are read:
  * the CURRENT table (the libs mirror's HEAD): the event model;
  * the table sysdig 0.29.3 was built from (libs e5c53d64), kept as an
    overlay of only the entries whose names/types/formats/tables differ,
    because sysdig prints with its own table.

Usage: python3 scripts/gen_event_table.py [--repo MIRROR] [--rev HEAD]
       [--old-rev e5c53d64] [-o falcolib/decode/_data.py]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

MIRROR = "/work/.mirror/falcosecurity+libs/repo"
TOKEN = re.compile(r'''\s*(?:("(?:[^"\\]|\\.)*")|([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+|\d+)[uUlL]*|(<<|>>|\S))''')


def git_show(repo: str, rev: str, path: str) -> str:
    return subprocess.run(["git", "-C", repo, "show", f"{rev}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def strip_comments(text: str) -> str:
    """Drop comments, and (for initializer files) conditional-compilation
    lines: userspace builds define no CONFIG_64BIT, so #ifndef blocks of
    flags_table.c are included, as in sysdig."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def initializers(text: str) -> str:
    return re.sub(r"^\s*#\s*(ifn?def|endif|if|else|pragma|include)\b[^\n]*$", " ",
                  strip_comments(text), flags=re.M)


def tokens(text: str) -> list[str]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot tokenize near {text[pos:pos + 40]!r}")
        out.append(m.group(m.lastindex))
        pos = m.end()
    return out


class Consts:
    """#define and enum constants of ppm_events_public.h, evaluated."""

    def __init__(self, header: str):
        self.values: dict[str, int] = {}
        self.enums: dict[str, list[str]] = {}
        text = strip_comments(header)
        text = re.sub(r"\\\n", " ", text)
        for m in re.finditer(r"^\s*#define\s+(\w+)[ \t]+([^\n]+)$", text, flags=re.M):
            name, expr = m.group(1), m.group(2).strip()
            try:
                self.values[name] = self.eval(expr)
            except Exception:
                pass
        for m in re.finditer(r"enum\s*(\w*)\s*\{(.*?)\}\s*(\w*)\s*;", text, flags=re.S):
            ename = m.group(1) or m.group(3)
            nxt = 0
            names = []
            for item in m.group(2).split(","):
                item = item.strip()
                if not item:
                    continue
                if "=" in item:
                    name, expr = (s.strip() for s in item.split("=", 1))
                    nxt = self.eval(expr)
                else:
                    name = item
                if not re.fullmatch(r"\w+", name):
                    break
                self.values[name] = nxt
                names.append(name)
                nxt += 1
            self.enums[ename] = names

    def eval(self, expr: str) -> int:
        parts = []
        toks = tokens(expr)
        i = 0
        while i < len(toks):
            t = toks[i]
            # drop casts such as (uint32_t) / (enum x)
            if t == "(" and i + 2 < len(toks) and toks[i + 2] == ")" and re.fullmatch(r"u?int\d+_t|unsigned|long|int", toks[i + 1]):
                i += 3
                continue
            if re.fullmatch(r"[A-Za-z_]\w*", t):
                if t not in self.values:
                    raise KeyError(t)
                parts.append(str(self.values[t]))
            elif t[0].isdigit():
                base = 8 if len(t) > 1 and t[0] == "0" and t[1].isdigit() else 0
                parts.append(str(int(t, base)))
            elif t in ("(", ")", "|", "&", "<<", ">>", "+", "-", "~", "*"):
                parts.append(t)
            else:
                raise ValueError(t)
            i += 1
        return int(eval(" ".join(parts), {"__builtins__": {}}))  # digits and operators only


def parse_init(toks: list[str], i: int):
    """Parse one initializer at toks[i]; return (value, next index).

    A braced list becomes a list of (designator or None, value); anything
    else becomes the list of its tokens."""
    if toks[i] == "{":
        i += 1
        items = []
        while toks[i] != "}":
            desig = None
            if toks[i] == "[":
                j = toks.index("]", i)
                desig = " ".join(toks[i + 1:j])
                assert toks[j + 1] == "="
                i = j + 2
            elif toks[i] == "." and toks[i + 2] == "=":
                desig = toks[i + 1]
                i += 3
            val, i = parse_init(toks, i)
            items.append((desig, val))
            if toks[i] == ",":
                i += 1
        return items, i + 1
    depth = 0
    start = i
    while depth or toks[i] not in (",", "}"):
        if toks[i] == "(":
            depth += 1
        elif toks[i] == ")":
            depth -= 1
        i += 1
    return toks[start:i], i


def array_init(source: str, name: str):
    text = initializers(source)
    m = re.search(r"\b" + re.escape(name) + r"\s*\[[^\]]*\]\s*=\s*\{", text)
    if not m:
        raise KeyError(name)
    toks = tokens(text[m.end() - 1:])
    value, _ = parse_init(toks, 0)
    return value


def all_arrays(source: str, ctype: str) -> list[str]:
    return re.findall(r"const struct " + ctype + r"\s+(\w+)\s*\[", strip_comments(source))


def string(tok: list[str]) -> str:
    assert len(tok) == 1 and tok[0].startswith('"'), tok
    return tok[0][1:-1].encode().decode("unicode_escape")


def read_events(et: str, consts: Consts) -> list:
    entries = array_init(et, "g_event_info")
    table: dict[int, tuple] = {}
    for desig, val in entries:
        code = consts.values[desig] if desig else len(table)
        name = string(val[0][1])
        cat = consts.eval(" ".join(val[1][1]))
        flags = consts.eval(" ".join(val[2][1]))
        nparams = consts.eval(" ".join(val[3][1]))
        params = []
        plist = val[4][1] if len(val) > 4 else []
        for _, p in plist[:nparams]:
            pname = string(p[0][1])
            ptype = p[1][1][0]
            pfmt = p[2][1][0]
            info = None
            if len(p) > 3:
                itoks = p[3][1]
                if itoks[0] == "DIRFD_PARAM":
                    info = int(itoks[2])
                elif itoks != ["0"]:
                    info = itoks[0]
            params.append((pname, ptype, pfmt, info))
        assert len(params) == nparams, (name, desig)
        table[code] = (name, desig or "", cat, flags, tuple(params))
    return table


def read_flag_tables(ft: str, consts: Consts) -> dict[str, tuple]:
    out = {}
    for arr in all_arrays(ft, "ppm_name_value"):
        pairs = []
        for _, item in array_init(ft, arr):
            if item[0][1] == ["0"]:
                break
            pairs.append((string(item[0][1]), consts.eval(" ".join(item[1][1]))))
        out[arr] = tuple(pairs)
    return out


def read_dynamic(dp: str, consts: Consts) -> dict[str, tuple]:
    out = {}
    for arr in all_arrays(dp, "ppm_param_info"):
        variants = {}
        for desig, item in array_init(dp, arr):
            variants[consts.values[desig]] = (item[1][1][0], item[2][1][0])
        out[arr] = tuple(variants.get(i) for i in range(max(variants) + 1))
    return out


def read_syscall_info(src: str, consts: Consts) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(names, categories) of sysdig's g_syscall_info_table, by ppm syscall code."""
    names, cats = [], []
    for _, item in array_init(src, "g_syscall_info_table"):
        names.append(string(item[2][1]))
        cats.append(consts.eval(" ".join(item[0][1])))
    return tuple(names), tuple(cats)


def read_switch_names(utils_cpp: str, func: str, consts: Consts) -> dict[int, str]:
    """The ``case SE_X: return "NAME";`` pairs of one sinsp_utils function."""
    body = utils_cpp[utils_cpp.index(func):]
    body = body[:body.index("\n}\n")]
    out: dict[int, str] = {}
    pending: list[str] = []
    for m in re.finditer(r'case\s+(\w+)\s*:|return\s+"([^"]*)"', body):
        if m.group(1):
            pending.append(m.group(1))
        else:
            for c in pending:
                if m.group(2):
                    out.setdefault(consts.values[c], m.group(2))
            pending = []
    return out


def prefixed(consts: Consts, enum: str, prefix: str) -> dict[str, int]:
    return {n: consts.values[n] for n in consts.enums[enum] if n.startswith(prefix)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default=MIRROR)
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--old-rev", default="e5c53d64")
    ap.add_argument("-o", "--output", default=str(Path(__file__).resolve().parents[1] / "falcolib/decode/_data.py"))
    args = ap.parse_args(argv)
    rev = subprocess.run(["git", "-C", args.repo, "rev-parse", args.rev], check=True,
                         capture_output=True, text=True).stdout.strip()
    old = subprocess.run(["git", "-C", args.repo, "rev-parse", args.old_rev], check=True,
                         capture_output=True, text=True).stdout.strip()

    def load(r):
        consts = Consts(git_show(args.repo, r, "driver/ppm_events_public.h"))
        events = read_events(git_show(args.repo, r, "driver/event_table.c"), consts)
        flags = read_flag_tables(git_show(args.repo, r, "driver/flags_table.c"), consts)
        dyn = read_dynamic(git_show(args.repo, r, "driver/dynamic_params_table.c"), consts)
        return consts, events, flags, dyn

    consts, events, flags, dyn = load(rev)
    oconsts, oevents, oflags, odyn = load(old)
    emax = consts.values["PPM_EVENT_MAX"]
    omax = oconsts.values["PPM_EVENT_MAX"]
    sc_names, sc_cats = read_syscall_info(
        git_show(args.repo, old, "userspace/libscap/syscall_info_table.c"), oconsts)

    se = Consts(git_show(args.repo, old, "userspace/libsinsp/sinsp_errno.h")
                + git_show(args.repo, old, "userspace/libsinsp/sinsp_signal.h"))
    utils_cpp = git_show(args.repo, old, "userspace/libsinsp/utils.cpp")
    errnos = read_switch_names(utils_cpp, "sinsp_utils::errno_to_str", se)
    signals = read_switch_names(utils_cpp, "sinsp_utils::signal_to_str", se)
    na = ("NA", "", 0, 0, ())
    w = []
    w.append(f'"""Driver event model as data. GENERATED by scripts/gen_event_table.py: do not edit.\n\n'
             f"Current table: falcosecurity/libs {rev}.\n"
             f"sysdig 0.29.3 table (overlay of differing entries): {old}.\n"
             '"""\n# fmt: off\n')
    w.append(f"PPM_EVENT_MAX = {emax}\nSYSDIG_EVENT_MAX = {omax}\n\n")
    w.append("# code: (name, enum name, category bits, flag bits, ((param, PT_, PF_, info), ...))\n")
    w.append("EVENTS = (\n")
    for code in range(emax):
        w.append(f"    {events.get(code, na)!r},\n")
    w.append(")\n\n")
    w.append("# sysdig 0.29.3 entries that differ from EVENTS (names, types, formats, tables)\n")
    w.append("SYSDIG_EVENTS = {\n")
    overlay = 0
    for code in range(omax):
        o = oevents.get(code, na)
        n = events.get(code, na)
        # parameters appended later change nothing for sysdig: it reads the
        # ones it knows. Only a renamed event or a changed known parameter matters.
        if o[0] != n[0] or o[4] != n[4][:len(o[4])]:
            w.append(f"    {code}: {o!r},\n")
            overlay += 1
    w.append("}\n\n")
    w.append("# number of parameters sysdig 0.29 knows per code (it renders no more)\n")
    w.append(f"SYSDIG_NPARAMS = {tuple(len(oevents.get(c, na)[4]) for c in range(omax))!r}\n\n")

    def dump_flags(name, tables):
        w.append(f"{name} = {{\n")
        for k in sorted(tables):
            w.append(f"    {k!r}: {tables[k]!r},\n")
        w.append("}\n\n")

    dump_flags("FLAG_TABLES", flags)
    dump_flags("SYSDIG_FLAG_TABLES", {k: v for k, v in oflags.items() if flags.get(k) != v})
    dump_flags("DYNAMIC_PARAMS", dyn)
    w.append(f"EVENT_CATEGORIES = {prefixed(consts, 'ppm_event_category', 'EC_')!r}\n\n")
    w.append(f"EVENT_FLAGS = {prefixed(consts, 'ppm_event_flags', 'EF_')!r}\n\n")
    w.append(f"PARAM_TYPES = {tuple(consts.enums['ppm_param_type'])!r}\n\n")
    w.append(f"PRINT_FORMATS = {prefixed(consts, 'ppm_print_format', 'PF_')!r}\n\n")
    w.append("# sysdig 0.29 g_syscall_info_table names, by ppm syscall code (PT_SYSCALLID)\n")
    w.append(f"SYSCALL_NAMES = {sc_names!r}\n\n")
    w.append(f"SYSCALL_CATEGORIES = {sc_cats!r}\n\n")
    w.append("# sysdig 0.29 sinsp_utils::errno_to_str / signal_to_str\n")
    w.append(f"ERRNO_NAMES = {errnos!r}\n\n")
    w.append(f"SIGNAL_NAMES = {signals!r}\n")
    Path(args.output).write_text("".join(w))
    print(f"wrote {args.output}: {emax} events ({len(events)} defined), "
          f"{len(flags)} flag tables, {overlay} sysdig overlay entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
