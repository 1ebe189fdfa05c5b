"""Falco rule files (YAML) -> declarations, each with the position of its item.

The reader knows YAML and Falco's item shapes; it does not know what
earlier files defined. It yields declarations in file order:

- ``Define(item)``: a new ``List``/``Macro``/``Rule`` (or a redefinition)
- ``Append(item_type, name, values)``: ``append: true`` or ``override: {k: append}``
- ``Replace(name, values)``: ``override: {k: replace}`` on a rule
- ``Enable(name, enabled)``: the legacy ``- rule: X  enabled: false`` form
- ``EngineVersion``, ``PluginVersions``: requirements, accepted and reported

Where Falco stops a file at its first error, the reader records the error
and goes on with the next item, so one pass reports every problem.
"""
from __future__ import annotations

import re
from typing import Any

import attrs
import yaml

from falcolib.errors import Position
from falcolib.rules.model import DEFAULT_SOURCE, List, Macro, Priority, Rule, RuleException
from falcolib.rules.result import Code, LoadResult

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

WARNING_APPEND = ("'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') "
                  "under 'override' instead.")
WARNING_ENABLED = ("The standalone 'enabled' key usage is deprecated. The correct approach "
                   "requires also a 'replace' entry under the 'override' key (i.e. "
                   "'enabled: replace').")
ERROR_OVERRIDE_APPEND = ("Keys 'override' and 'append: true' cannot be used together. Add an "
                         "'append' entry (e.g. 'condition: append') under 'override' instead.")

RGX_IDENTIFIER = r"[a-zA-Z]+[a-zA-Z0-9_]*"
RGX_BARESTR = r"[^()\"'\s=,]+"
_IDENTIFIER = re.compile(RGX_IDENTIFIER)
_BARESTR = re.compile(RGX_BARESTR)

LIST_KEYS = frozenset({"list", "items", "append", "override"})
MACRO_KEYS = frozenset({"macro", "condition", "append", "override"})
RULE_KEYS = frozenset({"rule", "condition", "output", "desc", "priority", "source", "enabled",
                       "capture", "capture_duration", "warn_evttypes", "skip-if-unknown-filter",
                       "tags", "exceptions", "override", "append"})
RULE_APPENDABLE = ("condition", "output", "desc", "tags", "exceptions")
RULE_REPLACEABLE = ("condition", "output", "desc", "priority", "capture", "capture_duration",
                    "tags", "exceptions", "enabled", "warn_evttypes", "skip-if-unknown-filter")
_TRUE = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE = frozenset({"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})


@attrs.frozen
class Define:
    item: List | Macro | Rule


@attrs.frozen
class Append:
    item_type: str          # "list" | "macro" | "rule"
    name: str
    values: dict = attrs.field(eq=False)   # key -> value (items, condition, output, ...)
    position: Position = attrs.field(default=Position(), eq=False)


@attrs.frozen
class Replace:
    name: str
    values: dict = attrs.field(eq=False)
    position: Position = attrs.field(default=Position(), eq=False)


@attrs.frozen
class Enable:
    name: str
    enabled: bool
    position: Position = attrs.field(default=Position(), eq=False)


@attrs.frozen
class EngineVersion:
    version: str
    position: Position = attrs.field(default=Position(), eq=False)


@attrs.frozen
class PluginVersions:
    alternatives: tuple[tuple[str, str], ...]
    position: Position = attrs.field(default=Position(), eq=False)


Declaration = Define | Append | Replace | Enable | EngineVersion | PluginVersions


class _Invalid(Exception):
    """An item cannot be used; becomes one LoadIssue."""

    def __init__(self, message: str, node=None, code: Code = Code.LOAD_ERR_YAML_VALIDATE):
        super().__init__(message)
        self.message = message
        self.node = node
        self.code = code


class _Reader:
    def __init__(self, file: str, result: LoadResult):
        self.file = file
        self.result = result
        self.out: list[Declaration] = []

    # -- helpers over yaml nodes -------------------------------------------------------------
    def pos(self, node) -> Position:
        mark = node.start_mark
        return Position(self.file, mark.line + 1, mark.column + 1)

    @staticmethod
    def mapping(node) -> dict[str, tuple[Any, Any]]:
        keys: dict[str, tuple[Any, Any]] = {}
        for knode, vnode in node.value:
            key = knode.value if isinstance(knode, yaml.ScalarNode) else str(knode.value)
            keys[key] = (knode, vnode)
        return keys

    @staticmethod
    def is_null(node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")

    def scalar(self, keys, key: str, *, optional=False, can_be_empty=False, where=None):
        if key not in keys:
            if optional:
                return None
            raise _Invalid(f"Item has no mapping for key '{key}'", where)
        _, node = keys[key]
        if self.is_null(node):
            if can_be_empty:
                return None
            raise _Invalid(f"Mapping for key '{key}' is empty", node)
        if not isinstance(node, yaml.ScalarNode):
            raise _Invalid("Value is not a scalar value", node)
        if node.value == "":
            if can_be_empty:
                return None
            raise _Invalid("Value must be non-empty", node)
        return node.value

    def boolean(self, keys, key: str, *, optional=True, where=None):
        text = self.scalar(keys, key, optional=optional, where=where)
        if text is None:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise _Invalid("Can't decode YAML scalar value", keys[key][1])

    def integer(self, keys, key: str, where=None):
        text = self.scalar(keys, key, optional=True, where=where)
        if text is None:
            return None
        try:
            return int(text, 0)
        except ValueError:
            raise _Invalid("Can't decode YAML scalar value", keys[key][1]) from None

    def sequence(self, keys, key: str, *, optional: bool, where=None) -> tuple[str, ...] | None:
        if key not in keys:
            if optional:
                return None
            raise _Invalid(f"Item has no mapping for key '{key}'", where)
        _, node = keys[key]
        if not isinstance(node, yaml.SequenceNode):
            raise _Invalid("Value is not a sequence", node)
        out = []
        for v in node.value:
            if not isinstance(v, yaml.ScalarNode):
                raise _Invalid("sequence value is not scalar", v)
            out.append(v.value)
        return tuple(out)

    def warn(self, code: Code, item_type: str, name: str, message: str, node) -> None:
        self.result.add(code, item_type, name, message, self.pos(node))

    # -- documents and items ------------------------------------------------------------------
    def read(self, text: str) -> list[Declaration]:
        try:
            docs = list(yaml.compose_all(text, Loader=_Loader))
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            pos = (Position(self.file, mark.line + 1, mark.column + 1) if mark
                   else Position(self.file))
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            self.result.add(Code.LOAD_ERR_YAML_PARSE, "rules content", "", problem, pos)
            return self.out
        except yaml.YAMLError as exc:
            self.result.add(Code.LOAD_ERR_YAML_PARSE, "rules content", "", str(exc),
                            Position(self.file))
            return self.out
        for doc in docs:
            if doc is None or self.is_null(doc):
                continue
            if not isinstance(doc, yaml.SequenceNode):
                msg = ("Rules content is not yaml array of objects"
                       if isinstance(doc, yaml.MappingNode) else "Rules content is not yaml")
                self.result.add(Code.LOAD_ERR_YAML_VALIDATE, "rules content", "", msg,
                                self.pos(doc))
                continue
            for node in doc.value:
                if self.is_null(node):
                    continue
                self.item(node)
        return self.out

    def item(self, node) -> None:
        item_type, name = "rules content item", ""
        try:
            if not isinstance(node, yaml.MappingNode):
                raise _Invalid("Unexpected element type. Each element should be a yaml "
                               "associative array.", node)
            keys = self.mapping(node)
            for kind in ("required_engine_version", "required_plugin_versions",
                         "list", "macro", "rule"):
                if kind in keys:
                    item_type = kind
                    break
            else:
                self.warn(Code.LOAD_UNKNOWN_ITEM, item_type, "", "Unknown top level item", node)
                return
            if item_type in ("list", "macro", "rule"):
                name = self.scalar(keys, item_type, where=node)
            getattr(self, "read_" + item_type)(node, keys, name)
        except _Invalid as exc:
            where = exc.node if exc.node is not None else node
            self.result.add(exc.code, item_type, name or "", exc.message, self.pos(where))

    def unknown_keys(self, node, keys, expected, item_type: str, name: str) -> None:
        for key in keys:
            if key not in expected:
                self.warn(Code.LOAD_UNKNOWN_KEY, item_type, name,
                          f"Unknown key '{key}'. The key will be ignored.", node)

    def overrides(self, node, keys, appendable, replaceable) -> tuple[set, set]:
        if "override" not in keys:
            return set(), set()
        _, onode = keys["override"]
        if not isinstance(onode, yaml.MappingNode):
            raise _Invalid("Value of 'override' must be a mapping", onode)
        out_append, out_replace = set(), set()
        for knode, vnode in onode.value:
            key, op = str(knode.value), str(vnode.value)
            if op == "append":
                if key not in appendable:
                    raise _Invalid(f"Key '{key}' cannot be appended to, use 'replace' instead",
                                   knode)
                out_append.add(key)
            elif op == "replace":
                if key not in replaceable:
                    raise _Invalid(f"Key '{key}' cannot be replaced", knode)
                out_replace.add(key)
            else:
                allowed = " ".join(x for x, ok in (("append", key in appendable),
                                                   ("replace", key in replaceable)) if ok)
                raise _Invalid(f"Invalid override operation for key '{key}': '{op}'. "
                               f"Allowed values are: {allowed} ", vnode)
        return out_append, out_replace

    def read_required_engine_version(self, node, keys, _name) -> None:
        text = self.scalar(keys, "required_engine_version", where=node)
        if re.fullmatch(r"\d+", text):
            version = f"0.{int(text)}.0"
        elif re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", text):
            version = text
        else:
            raise _Invalid(f"Unable to parse engine version '{text}' as a semver string. "
                           "Expected \"x.y.z\" semver format.", node)
        self.out.append(EngineVersion(version, self.pos(node)))
        self.unknown_keys(node, keys, {"required_engine_version"}, "required_engine_version", "")

    def read_required_plugin_versions(self, node, keys, _name) -> None:
        _, seq = keys["required_plugin_versions"]
        if not isinstance(seq, yaml.SequenceNode):
            raise _Invalid("Value of required_plugin_versions must be a sequence", seq)
        for plugin in seq.value:
            if not isinstance(plugin, yaml.MappingNode):
                raise _Invalid("Plugin version must be a mapping", plugin)
            pkeys = self.mapping(plugin)
            alts = [(self.scalar(pkeys, "name", where=plugin),
                     self.scalar(pkeys, "version", where=plugin))]
            if "alternatives" in pkeys:
                _, anode = pkeys["alternatives"]
                if not isinstance(anode, yaml.SequenceNode):
                    raise _Invalid("Value of plugin version alternatives must be a sequence",
                                   anode)
                for alt in anode.value:
                    if not isinstance(alt, yaml.MappingNode):
                        raise _Invalid("Plugin version alternative must be a mapping", alt)
                    akeys = self.mapping(alt)
                    alts.append((self.scalar(akeys, "name", where=alt),
                                 self.scalar(akeys, "version", where=alt)))
            for pname, version in alts:
                if not re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", version):
                    raise _Invalid(f"Invalid required version '{version}' for plugin '{pname}'",
                                   plugin, Code.LOAD_ERR_VALIDATE)
            self.out.append(PluginVersions(tuple(alts), self.pos(plugin)))
        self.unknown_keys(node, keys, {"required_plugin_versions"}, "required_plugin_versions",
                          "")

    def read_list(self, node, keys, name) -> None:
        pos = self.pos(node)
        if not _BARESTR.fullmatch(name):
            self.warn(Code.LOAD_INVALID_LIST_NAME, "list", name, "List has an invalid name. "
                      "List names should match a regular expression: " + RGX_BARESTR, node)
        items = self.sequence(keys, "items", optional=False, where=node)
        append = self.deprecated_append(node, keys, "list", name)
        add, rep = self.overrides(node, keys, {"items"}, {"items"})
        if append and (add or rep):
            raise _Invalid(ERROR_OVERRIDE_APPEND, node)
        if append or add:
            self.out.append(Append("list", name, {"items": items}, pos))
        else:
            self.out.append(Define(List(name, items, position=pos)))
        self.unknown_keys(node, keys, LIST_KEYS, "list", name)

    def read_macro(self, node, keys, name) -> None:
        pos = self.pos(node)
        if not _IDENTIFIER.fullmatch(name):
            self.warn(Code.LOAD_INVALID_MACRO_NAME, "macro", name, "Macro has an invalid name. "
                      "Macro names should match a regular expression: " + RGX_IDENTIFIER, node)
        cond = self.scalar(keys, "condition", where=node)
        append = self.deprecated_append(node, keys, "macro", name)
        add, rep = self.overrides(node, keys, {"condition"}, {"condition"})
        if append and (add or rep):
            raise _Invalid(ERROR_OVERRIDE_APPEND, node)
        if append or add:
            self.out.append(Append("macro", name, {"condition": cond}, pos))
        else:
            self.out.append(Define(Macro(name, cond, position=pos)))
        self.unknown_keys(node, keys, MACRO_KEYS, "macro", name)

    def deprecated_append(self, node, keys, item_type, name) -> bool:
        append = bool(self.boolean(keys, "append", where=node))
        if append:
            self.warn(Code.LOAD_DEPRECATED_ITEM, item_type, name, WARNING_APPEND, node)
        return append

    def read_rule(self, node, keys, name) -> None:
        pos = self.pos(node)
        source = self.scalar(keys, "source", optional=True, can_be_empty=True, where=node)
        append = self.deprecated_append(node, keys, "rule", name)
        add, rep = self.overrides(node, keys, set(RULE_APPENDABLE), set(RULE_REPLACEABLE))
        if append and (add or rep):
            raise _Invalid(ERROR_OVERRIDE_APPEND, node)
        if add or rep:
            expected = {k for k in set(RULE_APPENDABLE) | set(RULE_REPLACEABLE) if k in keys}
            for mode, wanted in (("append", add), ("replace", rep)):
                if not wanted:
                    continue
                values = {}
                for key in (RULE_APPENDABLE if mode == "append" else RULE_REPLACEABLE):
                    if key not in wanted:
                        continue
                    if key not in expected:
                        raise _Invalid(f"An {mode} override for '{key}' was specified but "
                                       f"'{key}' is not defined", node)
                    expected.discard(key)
                    values[key] = self.rule_value(node, keys, key, name, mode == "append")
                if source:
                    values["source"] = source
                if mode == "append":
                    self.out.append(Append("rule", name, values, pos))
                else:
                    self.out.append(Replace(name, values, pos))
            for key in sorted(expected):
                raise _Invalid(f"Unexpected key '{key}': no corresponding entry under "
                               "'override' is defined.", keys[key][0])
        elif append:
            values = {}
            if "condition" in keys:
                values["condition"] = self.scalar(keys, "condition", where=node)
            if "exceptions" in keys:
                values["exceptions"] = self.exceptions(keys, name, append=True)
            if source:
                values["source"] = source
            self.out.append(Append("rule", name, values, pos))
        elif not any(k in keys for k in ("condition", "output", "desc", "priority")):
            enabled = self.boolean(keys, "enabled", optional=False, where=node)
            self.warn(Code.LOAD_DEPRECATED_ITEM, "rule", name, WARNING_ENABLED, node)
            self.out.append(Enable(name, enabled, pos))
        else:
            self.out.append(Define(self.full_rule(node, keys, name, pos)))
        self.unknown_keys(node, keys, RULE_KEYS, "rule", name)

    def rule_value(self, node, keys, key, name, append):
        if key == "exceptions":
            return self.exceptions(keys, name, append=append)
        if key == "tags":
            return self.sequence(keys, "tags", optional=True, where=node) or ()
        if key in ("enabled", "warn_evttypes", "skip-if-unknown-filter", "capture"):
            return self.boolean(keys, key, optional=False, where=node)
        if key == "capture_duration":
            return self.integer(keys, key, where=node)
        if key == "priority":
            return self.priority(keys, node)
        return self.scalar(keys, key, where=node)

    def priority(self, keys, node) -> Priority:
        text = self.scalar(keys, "priority", where=node)
        try:
            return Priority.parse(text)
        except ValueError:
            raise _Invalid("Invalid priority", keys["priority"][1]) from None

    def full_rule(self, node, keys, name, pos) -> Rule:
        cond = self.scalar(keys, "condition", where=node)
        output = self.scalar(keys, "output", where=node)
        desc = self.scalar(keys, "desc", where=node)
        priority = self.priority(keys, node)
        source = self.scalar(keys, "source", optional=True, where=node) or DEFAULT_SOURCE
        opt = {}
        for key, attr in (("enabled", "enabled"), ("capture", "capture"),
                          ("warn_evttypes", "warn_evttypes"),
                          ("skip-if-unknown-filter", "skip_if_unknown_filter")):
            value = self.boolean(keys, key, where=node)
            if value is not None:
                opt[attr] = value
        duration = self.integer(keys, "capture_duration", where=node)
        if duration is not None:
            opt["capture_duration"] = duration
        tags = self.sequence(keys, "tags", optional=True, where=node) or ()
        exceptions = self.exceptions(keys, name, append=False)
        return Rule(name, cond, output.strip(), priority, desc, tags, source=source,
                    exceptions=exceptions, position=pos,
                    output_position=self.pos(keys["output"][1]),
                    condition_position=self.pos(keys["condition"][1]), **opt)

    # -- exceptions ------------------------------------------------------------------------------
    def exceptions(self, keys, rule_name: str, *, append: bool) -> tuple[RuleException, ...]:
        if "exceptions" not in keys:
            return ()
        _, node = keys["exceptions"]
        if self.is_null(node):
            return ()
        if not isinstance(node, yaml.SequenceNode):
            raise _Invalid("Rule exceptions must be a sequence", node)
        out: list[RuleException] = []
        for ex in node.value:
            if not isinstance(ex, yaml.MappingNode):
                raise _Invalid("Rule exception must be a mapping", ex)
            ekeys = self.mapping(ex)
            name = self.scalar(ekeys, "name", where=ex)
            if any(e.name == name for e in out):
                self.warn(Code.LOAD_EXCEPTION_NAME_NOT_UNIQUE, "exception", name,
                          f"Multiple definitions of exception '{name}' in the same rule", ex)
            fields = self.exc_entry(ekeys, "fields", ex, optional=append)
            comps = self.exc_entry(ekeys, "comps", ex, optional=True)
            values: list = []
            if "values" in ekeys:
                _, vnode = ekeys["values"]
                if not isinstance(vnode, yaml.SequenceNode):
                    raise _Invalid("Rule exception values must be a sequence", vnode)
                values = [self.exc_value(v) for v in vnode.value]
            elif append:
                self.warn(Code.LOAD_APPEND_NO_VALUES, "exception", name,
                          "Overriding/appending exception with no values", ex)
            out.append(RuleException(name, fields, comps, tuple(values), position=self.pos(ex)))
        return tuple(out)

    def exc_entry(self, keys, key, where, *, optional):
        if key not in keys:
            if optional:
                return None
            raise _Invalid(f"Item has no mapping for key '{key}'", where)
        return self.exc_value(keys[key][1])

    def exc_value(self, node):
        if isinstance(node, yaml.ScalarNode):
            if node.value == "":
                raise _Invalid("Value must be non-empty", node)
            return node.value
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.exc_value(v) for v in node.value)
        raise _Invalid("Could not decode scalar value", node)


def read_text(text: str, file: str = "", result: LoadResult | None = None) -> list[Declaration]:
    """The declarations of one rules file's text; issues go to ``result``."""
    return _Reader(file, result if result is not None else LoadResult()).read(text)

