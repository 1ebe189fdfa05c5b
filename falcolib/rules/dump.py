"""Rules back to Falco's YAML format: ``dump(items) -> str``.

Items are written in definition order (lists and macros before the items
that use them, as the loader saw them), each as Falco reads it. Loading
the text gives the same lists, macros and rules (``load -> dump -> load``).
A rule with an empty ``desc`` gets its name as description, since Falco
requires a non-empty one.
"""
from __future__ import annotations

from typing import Iterable

import yaml

from falcolib.rules.model import DEFAULT_SOURCE, List, Macro, Rule, RuleException


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line strings; items of a sequence indented under their key."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, text: str):
    style = "|" if "\n" in text.rstrip("\n") and not text.endswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str)


def _exception(ex: RuleException) -> dict:
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, tuple) else v

    out: dict = {"name": ex.name}
    if ex.fields is not None:
        out["fields"] = plain(ex.fields)
    if ex.comps is not None:
        out["comps"] = plain(ex.comps)
    out["values"] = plain(ex.values)
    return out


def item_to_dict(item: List | Macro | Rule) -> dict:
    """One item as the mapping Falco's loader reads."""
    if isinstance(item, List):
        return {"list": item.name, "items": list(item.items)}
    if isinstance(item, Macro):
        return {"macro": item.name, "condition": item.condition}
    out: dict = {"rule": item.name, "desc": item.desc or item.name,
                 "condition": item.condition, "output": item.output,
                 "priority": item.priority.name}
    if item.tags:
        out["tags"] = list(item.tags)
    if not item.enabled:
        out["enabled"] = False
    if item.source != DEFAULT_SOURCE:
        out["source"] = item.source
    if item.exceptions:
        out["exceptions"] = [_exception(ex) for ex in item.exceptions]
    if not item.warn_evttypes:
        out["warn_evttypes"] = False
    if item.skip_if_unknown_filter:
        out["skip-if-unknown-filter"] = True
    if item.capture:
        out["capture"] = True
    if item.capture_duration:
        out["capture_duration"] = item.capture_duration
    return out


def dump(items: Iterable[List | Macro | Rule] | object, *,
         required_engine_version: str | None = None) -> str:
    """Falco rules YAML for ``items`` (or a Ruleset's items)."""
    if hasattr(items, "items") and hasattr(items, "compiled"):   # a Ruleset
        required_engine_version = required_engine_version or items.required_engine_version
        items = items.items
    docs: list[dict] = []
    if required_engine_version:
        docs.append({"required_engine_version": required_engine_version})
    docs.extend(item_to_dict(i) for i in items)
    parts = [yaml.dump([d], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
             for d in docs]
    return "\n".join(parts)
