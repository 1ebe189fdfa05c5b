"""load_rules / validate_rules: files, directories, YAML text and Python items -> Ruleset."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Union

import attrs

from falcolib.errors import Position, RuleLoadError
from falcolib.rules.collector import Collector
from falcolib.rules.compiler import Compiler
from falcolib.rules.model import List, Macro, Rule
from falcolib.rules.reader import Define, read_text
from falcolib.rules.result import Code, LoadResult
from falcolib.rules.ruleset import Ruleset

DEFAULT_RULES_DIR = Path(__file__).parent / "default"


@attrs.frozen
class RulesText:
    """Rules given as YAML text; ``name`` is what positions report as the file."""

    text: str
    name: str = "<string>"


Source = Union[str, os.PathLike, RulesText, List, Macro, Rule, Ruleset]


def default_rules_paths() -> list[Path]:
    """The bundled default rule files, in name order."""
    return sorted(DEFAULT_RULES_DIR.glob("*.yaml"))


def expand_paths(paths: Iterable[Source]) -> list[Source]:
    """Directories become their ``*.yaml`` files in name order; other sources stay."""
    out: list[Source] = []
    for p in paths:
        if isinstance(p, (str, os.PathLike)) and Path(p).is_dir():
            out.extend(sorted((f for f in Path(p).iterdir()
                               if f.suffix == ".yaml" and f.is_file()),
                              key=lambda f: f.name))
        else:
            out.append(p)
    return out


def _apply_source(col: Collector, src: Source, result: LoadResult) -> bool:
    """Add one source's declarations; True when it was a rules file or text."""
    if isinstance(src, (List, Macro, Rule)):
        col.apply(Define(src), result)
        return False
    if isinstance(src, Ruleset):
        for item in src.items:
            col.apply(Define(item), result)
        return True
    if isinstance(src, RulesText):
        col.apply_all(read_text(src.text, src.name, result), result)
        return True
    name = os.fspath(src)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        result.add(Code.LOAD_ERR_FILE_READ, "rules content", "",
                   f"Could not read rules file: {reason}", Position(name))
        return True
    col.apply_all(read_text(text, name, result), result)
    return True


# issues an intermediate compile reports (Falco compiles after every file)
_CHECKPOINT_CODES = frozenset({Code.LOAD_UNUSED_MACRO, Code.LOAD_UNUSED_LIST})


def _build(sources: Iterable[Source]) -> Ruleset:
    """Falco's load: each file is read, then everything so far is compiled.

    A file must therefore make sense with the files before it (a rule may not
    use a macro that only a later file defines). The compiles after the
    intermediate files contribute their errors and unused-item warnings; the
    last one gives the rules. Issues seen twice are reported once.
    """
    result = LoadResult()
    col = Collector()
    cache: dict = {}
    srcs = expand_paths(sources)
    for i, src in enumerate(srcs):
        is_file = _apply_source(col, src, result)
        if is_file and i < len(srcs) - 1:
            partial = LoadResult()
            Compiler(col, partial, cache).compile()
            _merge(result, (x for x in _unused_only_if_clean(result, partial)
                            if x.is_error or x.code in _CHECKPOINT_CODES))
    final = LoadResult()
    compiled = Compiler(col, final, cache).compile()
    _merge(result, _unused_only_if_clean(result, final))
    entries = sorted([*col.lists.values(), *col.macros.values(), *col.rules.values()],
                     key=lambda e: e.index)
    return Ruleset(compiled, items=[e.item for e in entries],
                   lists=[e.item for e in entries if isinstance(e.item, List)],
                   macros=[e.item for e in entries if isinstance(e.item, Macro)],
                   result=result, required_engine_version=col.required_engine_version,
                   required_plugin_versions=col.required_plugin_versions)


def _unused_only_if_clean(so_far: LoadResult, compiled: LoadResult):
    """Falco reports unused lists/macros only when nothing failed (it stops at errors)."""
    if so_far.successful:
        return compiled.issues
    return [i for i in compiled.issues if i.code not in _CHECKPOINT_CODES]


def _merge(result: LoadResult, issues) -> None:
    seen = set(result.issues)
    for issue in issues:
        if issue not in seen:
            seen.add(issue)
            result.issues.append(issue)


def validate_rules(sources: Iterable[Source] | Source) -> LoadResult:
    """Load as ``load_rules`` would and return every issue found (never raises)."""
    return _build(_as_list(sources)).result


def load_rules(sources: Iterable[Source] | Source | None = None) -> Ruleset:
    """Load rule files/directories/text/items in order; RuleLoadError if any error.

    With no sources, the bundled default rules load.
    """
    srcs = _as_list(sources) if sources is not None else default_rules_paths()
    ruleset = _build(srcs)
    if not ruleset.result.successful:
        raise RuleLoadError(ruleset.result)
    return ruleset


def _as_list(sources) -> list:
    if isinstance(sources, (str, os.PathLike, RulesText, List, Macro, Rule, Ruleset)):
        return [sources]
    return list(sources)
