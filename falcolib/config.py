"""falcolib's YAML configuration, following falco.yaml's key names and meanings.

``load_config(path, overrides)`` reads a file (or nothing: the defaults), applies
``--set key.sub=value`` overrides (values are YAML: ``true``, ``5``, ``[a, b]``), and
checks every key and type against the sections below, raising ConfigError with the
file:line:column of the offending node. Falco keys falcolib accepts but does not act on
(plugins, engine, ...) are listed in ``Config.ignored`` with their positions instead of
failing, so an existing falco.yaml loads.

Where falcolib's default differs from falco.yaml's it says so (``# falco:``).
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable

import attrs
import yaml

from falcolib.config_checks import (
    LoadContext, boolean, choice, choices, duration, integer, number, program, string,
    strings,
)
from falcolib.errors import ConfigError, Position

__all__ = ["Config", "load_config", "parse_override", "IGNORED_FALCO_KEYS"]

_PRIORITIES = ("emergency", "alert", "critical", "error", "warning", "notice",
               "informational", "info", "debug")

#: Top-level falco.yaml keys accepted and ignored (reported in Config.ignored).
IGNORED_FALCO_KEYS = frozenset({
    "config_files", "engine", "capture", "load_plugins", "plugins", "plugins_hostinfo",
    "buffer_format_base64", "log_syslog", "libs_logger",
    "syscall_event_timeouts", "base_syscalls", "falco_libs", "container_engines",
    "metadata_download", "modern_bpf", "grpc", "grpc_output", "static_fields",
})


def drop_actions(ctx: LoadContext, node: yaml.Node, key: str) -> tuple[str, ...]:
    """syscall_event_drops.actions: as Falco, ``ignore`` excludes ``log`` and ``alert``."""
    actions = choices("ignore", "log", "alert", "exit")(ctx, node, key)
    if "ignore" in actions and ({"log", "alert"} & set(actions)):
        raise ctx.fail(node, f"'{key}': the actions log and alert make no sense with ignore")
    return actions or ("ignore",)


@attrs.frozen
class AppendOutput:
    """One ``append_output`` entry: what to add to the output of the rules it matches."""

    source: str = ""                       # match.source ("" = every source)
    tags: tuple[str, ...] = ()             # match.tags (a rule must have all of them)
    rule: str = ""                         # match.rule ("" = every rule)
    extra_output: str = ""                 # appended to the output line
    extra_fields: tuple[tuple[str, str], ...] = ()  # (output_fields key, %format or field)
    suggested_output: bool = False         # add the suggested fields (container id and name)

    def matches(self, rule_name: str, source: str, tags) -> bool:
        return ((not self.source or self.source == source)
                and (not self.rule or self.rule == rule_name)
                and set(self.tags) <= set(tags))


def _extra_fields(ctx: LoadContext, node: yaml.Node, key: str) -> tuple[tuple[str, str], ...]:
    """``- evt.hostname`` (a field) or ``- name: "%fmt or text"``."""
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, f"'{key}' must be a list")
    out = []
    for item in node.value:
        if isinstance(item, yaml.MappingNode):
            for k_node, v_node in item.value:
                out.append((string(ctx, k_node, key), string(ctx, v_node, key)))
        else:
            name = string(ctx, item, key)
            out.append((name, "%" + name))
    return tuple(out)


# an append_output entry's keys and their checkers; ``match`` is a mapping whose keys
# (checked the same way) are AppendOutput's fields too. The order is the messages'.
_MATCH_KEYS: dict[str, Any] = {"source": string, "rule": string, "tags": strings}
_ENTRY_KEYS: dict[str, Any] = {"match": _MATCH_KEYS, "extra_output": string,
                               "extra_fields": _extra_fields, "suggested_output": boolean}


def _entry_keys(ctx: LoadContext, node: yaml.Node, where: str, checks: dict[str, Any],
                kw: dict[str, Any]) -> None:
    """Check each key of the mapping ``node`` (called ``where``) by ``checks`` into ``kw``."""
    if not isinstance(node, yaml.MappingNode):
        raise ctx.fail(node, f"'{where}' must be a mapping")
    for k_node, v_node in node.value:
        k = ctx.scalar(k_node, where)
        check = checks.get(k) if isinstance(k, str) else None
        if check is None:
            raise ctx.fail(k_node, f"unknown key '{where}.{k}' (expected {', '.join(checks)})")
        if isinstance(check, dict):
            _entry_keys(ctx, v_node, f"{where}.{k}", check, kw)
        else:
            kw[k] = check(ctx, v_node, f"{where}.{k}")


def append_output(ctx: LoadContext, node: yaml.Node, key: str) -> tuple[AppendOutput, ...]:
    """falco.yaml's ``append_output``: a list of {match, extra_output, extra_fields,
    suggested_output} entries."""
    if not isinstance(node, yaml.SequenceNode):
        raise ctx.fail(node, f"'{key}' must be a list of entries")
    out = []
    for i, item in enumerate(node.value):
        kw: dict[str, Any] = {}
        _entry_keys(ctx, item, f"{key}[{i}]", _ENTRY_KEYS, kw)
        out.append(AppendOutput(**kw))
    return tuple(out)


def _opt(default: Any, check: Callable, doc: str = "") -> Any:
    if isinstance(default, (list, dict)):
        raise TypeError("mutable default")
    return attrs.field(default=default, metadata={"check": check, "doc": doc})


def _section(cls: type) -> Any:
    return attrs.field(factory=cls, metadata={"section": cls})


# -- sections -------------------------------------------------------------------------------
@attrs.frozen
class StdoutOutput:
    enabled: bool = _opt(True, boolean)


@attrs.frozen
class FileOutput:
    enabled: bool = _opt(False, boolean)
    keep_alive: bool = _opt(False, boolean)
    filename: str = _opt("./events.txt", string)


@attrs.frozen
class SyslogOutput:
    enabled: bool = _opt(False, boolean)  # falco: true (falcolib run prints to stdout only)
    transport: str = _opt("unix", choice("unix", "udp", "tcp"))  # falcolib
    path: str = _opt("/dev/log", string)  # falcolib: the local socket
    host: str = _opt("127.0.0.1", string)  # falcolib: remote server for udp/tcp
    port: int = _opt(514, integer(1, 65535))  # falcolib
    facility: str = _opt("user", choice("kern", "user", "mail", "daemon", "auth", "syslog",
                                        "lpr", "news", "uucp", "cron", "authpriv", "ftp",
                                        *(f"local{i}" for i in range(8))))  # falcolib
    ident: str = _opt("falcolib", string)  # falcolib; falco's syslog(3) ident is "falco"


@attrs.frozen
class ProgramOutput:
    enabled: bool = _opt(False, boolean)
    keep_alive: bool = _opt(True, boolean)  # falco: false (one process per alert)
    program: Any = _opt("", program)


@attrs.frozen
class HttpOutput:
    enabled: bool = _opt(False, boolean)
    url: str = _opt("", string)
    user_agent: str = _opt("falcosecurity/falco", string)
    insecure: bool = _opt(False, boolean)
    ca_cert: str = _opt("", string)
    ca_bundle: str = _opt("", string)
    ca_path: str = _opt("/etc/ssl/certs", string)
    mtls: bool = _opt(False, boolean)
    client_cert: str = _opt("/etc/ssl/certs/client.crt", string)
    client_key: str = _opt("/etc/ssl/certs/client.key", string)
    echo: bool = _opt(False, boolean)
    compress_uploads: bool = _opt(False, boolean)  # accepted, not implemented
    keep_alive: bool = _opt(True, boolean)  # falco: false (TCP keepalive); here: reuse connection
    max_consecutive_timeouts: int = _opt(5, integer(0, 255))


@attrs.frozen
class OutputsQueue:
    capacity: int = _opt(0, integer(0))  # 0: falcolib's default of 1024 alerts per sink


@attrs.frozen
class Webserver:
    enabled: bool = _opt(False, boolean)  # falco: true
    threadiness: int = _opt(0, integer(0))
    listen_port: int = _opt(8765, integer(0, 65535))
    listen_address: str = _opt("0.0.0.0", string)
    k8s_healthz_endpoint: str = _opt("/healthz", string)
    prometheus_metrics_enabled: bool = _opt(False, boolean)
    ssl_enabled: bool = _opt(False, boolean)
    ssl_certificate: str = _opt("/etc/falco/falco.pem", string)


@attrs.frozen
class EbpfOptions:
    """falcolib's eBPF backend (falco.yaml's ``engine.ebpf`` has other knobs)."""
    ring_pages: int = _opt(2048, integer(1, 1 << 20))  # ring size in pages, a power of two
    queue_bytes: int = _opt(64 << 20, integer(1 << 16))  # userspace queue bound (bytes)
    drain_ms: float = _opt(5.0, number(0.1, 1000.0))
    snaplen: int = _opt(80, integer(0, 4096))


@attrs.frozen
class SyscallEventDrops:
    threshold: float = _opt(0.1, number(0.0, 1.0))
    actions: tuple[str, ...] = _opt(("log", "alert"), drop_actions)
    rate: float = _opt(0.03333, number(0.0))
    max_burst: float = _opt(1.0, number(0.0))
    simulate_drops: bool = _opt(False, boolean)


@attrs.frozen
class Metrics:
    enabled: bool = _opt(False, boolean)
    interval: float = _opt(3600.0, duration)
    output_rule: bool = _opt(True, boolean)
    output_file: str = _opt("", string)
    rules_counters_enabled: bool = _opt(True, boolean)
    resource_utilization_enabled: bool = _opt(True, boolean)
    state_counters_enabled: bool = _opt(True, boolean)
    kernel_event_counters_enabled: bool = _opt(True, boolean)
    kernel_event_counters_per_cpu_enabled: bool = _opt(False, boolean)
    libbpf_stats_enabled: bool = _opt(True, boolean)
    plugins_metrics_enabled: bool = _opt(True, boolean)
    kernel_iter_event_counters_enabled: bool = _opt(True, boolean)
    jemalloc_stats_enabled: bool = _opt(False, boolean)
    convert_memory_to_mb: bool = _opt(True, boolean)
    include_empty_values: bool = _opt(False, boolean)


@attrs.frozen
class Config:
    """The whole configuration; ``ignored`` lists Falco keys present but not acted on."""

    rules_files: tuple[str, ...] = _opt((), strings)
    watch_config_files: bool = _opt(True, boolean)
    priority: str = _opt("debug", choice(*_PRIORITIES))
    rule_matching: str = _opt("first", choice("first", "all"))
    json_output: bool = _opt(False, boolean)
    json_include_output_property: bool = _opt(True, boolean)
    json_include_tags_property: bool = _opt(True, boolean)
    json_include_message_property: bool = _opt(False, boolean)
    json_include_output_fields_property: bool = _opt(True, boolean)
    time_format_iso_8601: bool = _opt(False, boolean)
    buffered_outputs: bool = _opt(False, boolean)
    output_timeout: int = _opt(2000, integer(1))
    log_stderr: bool = _opt(True, boolean)
    log_level: str = _opt("info", choice(*_PRIORITIES))
    append_output: tuple[AppendOutput, ...] = _opt(
        (AppendOutput(suggested_output=True),), append_output)
    outputs_queue: OutputsQueue = _section(OutputsQueue)
    stdout_output: StdoutOutput = _section(StdoutOutput)
    file_output: FileOutput = _section(FileOutput)
    syslog_output: SyslogOutput = _section(SyslogOutput)
    program_output: ProgramOutput = _section(ProgramOutput)
    http_output: HttpOutput = _section(HttpOutput)
    webserver: Webserver = _section(Webserver)
    syscall_event_drops: SyscallEventDrops = _section(SyscallEventDrops)
    ebpf: EbpfOptions = _section(EbpfOptions)
    metrics: Metrics = _section(Metrics)
    ignored: tuple[tuple[str, Position], ...] = attrs.field(default=(), eq=False)
    source: str = attrs.field(default="", eq=False)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as plain data (sections as dicts), without ``ignored``/``source``."""
        top = {f for f in attrs.fields(Config) if f.name in ("ignored", "source")}
        return attrs.asdict(self, filter=lambda a, _v: a not in top)


_ALIASES = {"rules_file": "rules_files"}  # falco's older spelling


def _build(cls: type, node: yaml.Node, ctx: LoadContext, path: str) -> Any:
    label = path or "the top level"
    if not isinstance(node, yaml.MappingNode):
        raise ctx.fail(node, f"{label} must be a mapping of keys to values")
    fields = {f.name: f for f in attrs.fields(cls) if f.metadata}
    values: dict[str, Any] = {}
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            raise ctx.fail(key_node, f"keys in {label} must be names")
        dotted = f"{path}.{key}" if path else key
        name = _ALIASES.get(key, key) if not path else key
        if not path and key in IGNORED_FALCO_KEYS:
            ctx.ignored.append((key, ctx.where(key_node)))
            continue
        field = fields.get(name)
        if field is None:
            close = difflib.get_close_matches(key, list(fields), n=1)
            raise ctx.fail(key_node, f"unknown key '{dotted}'",
                           hint=f"did you mean '{close[0]}'?" if close else
                           f"known keys in {label}: {', '.join(sorted(fields))}")
        if name in seen and name != "rules_files":
            raise ctx.fail(key_node, f"duplicate key '{dotted}'")
        seen[name] = key_node
        section = field.metadata.get("section")
        if section is not None:
            if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
                continue
            value = _build(section, value_node, ctx, dotted)
        else:
            value = field.metadata["check"](ctx, value_node, dotted)
        if name == "rules_files" and name in values:
            value = values[name] + value  # rules_file and rules_files both given
        values[name] = value
    return cls(**values)


def parse_override(text: str, index: int = 0) -> tuple[list[str], yaml.Node, Position]:
    """Split ``key.sub=value`` into the key path, the value as a YAML node and its origin."""
    key, sep, value = text.partition("=")
    origin = Position(f"--set {text}", 1, len(key) + 2)
    if not sep or not key.strip() or any(not part for part in key.strip().split(".")):
        raise ConfigError(f"--set expects key=value with a dotted key (got {text!r})",
                          position=Position("--set", index + 1, 1))
    try:
        node = yaml.compose(value if value.strip() else '""', Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        column = exc.problem_mark.column if exc.problem_mark else 0
        raise ConfigError(f"--set value is not valid YAML: {exc.problem}",
                          position=Position(origin.file, 1, origin.column + column)) from None
    return key.strip().split("."), node, origin


def _apply(root: yaml.MappingNode, keys: list[str], value: yaml.Node, ctx: LoadContext,
           origin: Position) -> None:
    node = root
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        for pair_index, (key_node, value_node) in enumerate(node.value):
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                if last:
                    node.value[pair_index] = (key_node, value)
                elif not isinstance(value_node, yaml.MappingNode):
                    child = yaml.MappingNode("tag:yaml.org,2002:map", [],
                                             value.start_mark, value.end_mark)
                    ctx.fixed[id(child)] = Position(origin.file, 1, 1)
                    node.value[pair_index] = (key_node, child)
                    node = child
                else:
                    node = value_node
                break
        else:
            key_node = yaml.ScalarNode("tag:yaml.org,2002:str", key, value.start_mark,
                                       value.end_mark)
            child = value if last else yaml.MappingNode("tag:yaml.org,2002:map", [],
                                                        value.start_mark, value.end_mark)
            ctx.fixed[id(key_node)] = Position(origin.file, 1, 1)
            if not last:
                ctx.fixed[id(child)] = Position(origin.file, 1, 1)
            node.value.append((key_node, child))
            node = child


def _read(path: str) -> yaml.Node | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.compose(handle, Loader=yaml.SafeLoader)
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}",
                          position=Position(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file is not UTF-8 text (byte {exc.start})",
                          position=Position(path, offset=exc.start)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc.context}",
                          position=Position(path, mark.line + 1, mark.column + 1)
                          if mark else Position(path)) from None


def load_config(path: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """Read ``path`` (None: defaults only), apply ``--set`` overrides, validate everything."""
    ctx = LoadContext()
    root = _read(path) if path else None
    if root is None:
        mark = yaml.Mark(path or "<defaults>", 0, 0, 0, None, None)
        root = yaml.MappingNode("tag:yaml.org,2002:map", [], mark, mark)
    if not isinstance(root, yaml.MappingNode):
        raise ctx.fail(root, "a config file must be a mapping of keys to values")
    for index, text in enumerate(overrides):
        keys, node, origin = parse_override(text, index)
        for sub in _walk(node):
            ctx.origins[id(sub)] = origin
        _apply(root, keys, node, ctx, origin)
    config = _build(Config, root, ctx, "")
    return attrs.evolve(config, ignored=tuple(ctx.ignored), source=path or "")


def _walk(node: yaml.Node) -> Iterable[yaml.Node]:
    yield node
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _walk(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _walk(key)
            yield from _walk(value)
