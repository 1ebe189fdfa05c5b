"""k8s.* fields, from the labels the kubelet puts on a pod's containers (io.kubernetes.*)."""
from __future__ import annotations

from falcolib.fields.catalogue import ArgKind, FieldClass, FieldType as T

k8s = FieldClass("k8s", "Kubernetes related context, from the pod's container labels.")
_C = frozenset({"event", "thread", "container"})
POD_NAME = "io.kubernetes.pod.name"
POD_NS = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"


def labels(view) -> dict | None:
    t = view.thread
    if t is None or not t.container_id:
        return None
    c = view.state.containers.get(t.container_id)
    return None if c is None else c.labels


def _label(name, desc, key):
    @k8s.field(name, T.CHARBUF, desc, needs=_C)
    def _get(view, _k=key):
        lab = labels(view)
        return None if not lab else lab.get(_k)
    return _get


_label("k8s.pod.name", "Kubernetes pod name.", POD_NAME)
_label("k8s.ns.name", "Kubernetes namespace name.", POD_NS)
_label("k8s.pod.id", "Kubernetes pod id.", POD_UID)
_label("k8s.pod.uid", "Kubernetes pod UID.", POD_UID)


@k8s.field("k8s.pod.label", T.CHARBUF, "Kubernetes pod label. E.g. 'k8s.pod.label[foo]'.", arg=ArgKind.KEY, needs=_C)
def k8s_pod_label(view, key):
    lab = labels(view)
    if not lab:
        return None
    return lab.get(key)


@k8s.field("k8s.pod.labels", T.CHARBUF, "Kubernetes pod comma-separated key/value labels. E.g. 'foo1:bar1,foo2:bar2'.", needs=_C)
def k8s_pod_labels(view):
    lab = labels(view)
    if not lab:
        return None
    items = [f"{k}:{v}" for k, v in lab.items() if not k.startswith("io.kubernetes.")]
    return ",".join(items) if items else None


def _none(view, key=None):
    return None


# objects the container labels do not describe: declared so rules compile; no value from captures
for _obj, _what in (("rc", "replication controller"), ("svc", "service"), ("rs", "replica set"),
                    ("deployment", "deployment"), ("ns", "namespace")):
    for _suffix, _d in (("name", "name"), ("id", "id"), ("labels", "labels")):
        _n = f"k8s.{_obj}.{_suffix}"
        if _n in k8s.fields:
            continue
        k8s.field(_n, T.CHARBUF, f"Kubernetes {_what} {_d} (needs the Kubernetes API: no value from captures).",
                  needs=_C)(_none)
    k8s.field(f"k8s.{_obj}.label", T.CHARBUF, f"Kubernetes {_what} label (needs the Kubernetes API).",
              arg=ArgKind.KEY, needs=_C)(_none)
