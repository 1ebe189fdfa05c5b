"""Every field the official rules use is answered on some shared capture, or we show why not."""
from __future__ import annotations

import pytest

from falcolib.decode.event import Event
from falcolib.fields.catalogue import ArgKind, lookup, resolve
from falcolib.scap.blocks import parse_state_blocks
from falcolib.scap.reader import ScapReader
from falcolib.state import State
from tests.fields.test_rules_fields import rule_fields

K8S_LABEL = "io.kubernetes.pod.name"


def _replay_all(captures, extractors):
    answered, states = set(), []
    for path in captures:
        reader, state = ScapReader(path), None
        for raw in reader.events():
            if state is None:
                state = State(parse_state_blocks(reader.state_blocks))
            view = state.process(Event(raw))
            for key, fn in extractors.items():
                if key not in answered:
                    v = fn(view)
                    if v is not None and v != ():
                        answered.add(key)
        if state is not None:
            states.append(state)
    return answered, states


@pytest.fixture(scope="module")
def coverage(shared_dir, captures):
    used = rule_fields(shared_dir / "rules")
    extractors = {}
    for name, arg in used:
        f = lookup(name)
        if f.arg is ArgKind.NAME_SUFFIX and name != f.name:
            extractors[(name, arg)] = resolve(name)
        else:
            extractors[(name, arg)] = resolve(name, arg[1:-1] if arg else None)
    answered, states = _replay_all(captures, extractors)
    return used, answered, states


def _containers(states):
    return [c for st in states for c in st.containers]


class TestRuleFieldsOnCaptures:
    """A rule field no capture answers is listed here with a reason that is itself checked."""

    def test_unanswered_fields_have_checked_reasons(self, coverage):
        used, answered, states = coverage
        missing = {k for k in used if k not in answered}
        containers = _containers(states)
        threads = [t for st in states for t in st.threads.values()]
        reasons = {}
        for name, arg in missing:
            if name == "container.mount.dest":
                # the value is the mount whose *source* is the argument (sysdig's semantics)
                src = arg[1:-1].rstrip("*")
                if not any(m[0].startswith(src) for c in containers for m in c.mounts):
                    reasons[(name, arg)] = "no captured container mounts that source"
            elif name in ("k8s.pod.name", "k8s.ns.name"):
                if not any(K8S_LABEL in c.labels for c in containers):
                    reasons[(name, arg)] = "no captured container carries kubelet labels"
            elif name.endswith(".name") and name.startswith("fd."):
                reasons[(name, arg)] = "DNS names need live DNS tracking (none in captures)"
            elif name == "container.start_ts":
                if not any(c.created_time for c in containers):
                    reasons[(name, arg)] = "no captured container JSON carries created_time"
            elif name.startswith("proc.exe_ino"):
                if not any(t.exe_ino_ctime and t.clone_ts for t in threads):
                    reasons[(name, arg)] = "no captured thread has both exe_ino_ctime and a start time"
        assert sorted(missing - set(reasons), key=str) == []
        assert len(answered) >= len(used) - len(reasons)

    def test_most_rule_fields_are_answered(self, coverage):
        used, answered, _ = coverage
        assert len(answered) >= 0.7 * len(used)
