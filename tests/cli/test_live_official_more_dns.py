"""A rule on the domain name of a connection's server: 'Detect outbound connections to common
miner pool ports' (sandbox, enabled by live_attacks.TUNE) compares fd.sip.name with miner pool
domains. Falco resolves each domain a rule names (libs' DNS manager: getaddrinfo, cached and
refreshed) and matches the socket's server IP against the answers. Here the monitor runs in a
private mount namespace whose /etc/hosts names this host's own address as a pool (and whose
nsswitch.conf asks files only): nothing outside the monitor sees the change, no DNS query
leaves the host, and the connection goes to a local listener.
"""
from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from .conftest import Monitor
from .live_attacks import OFFICIAL, RULES, TUNE, Range, busybox_image, container, marker, run

pytestmark = pytest.mark.live
POOL = "pool.minexmr.com"   # in the rule's miner_domains
PORT = 3333                 # in miner_ports
K8S_API = "kubernetes.default.svc.cluster.local"   # the stable rule's k8s_api_server
K8S_IP = "127.0.0.2"        # in the container's own loopback network
WRAP = 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/nsswitch.conf && shift && exec "$@"'


class _HostsMonitor(Monitor):
    """A Monitor whose process sees ``hosts`` as /etc/hosts (its own mount namespace)."""

    def __init__(self, hosts, nsswitch, *rules, extra=()):
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", WRAP, str(hosts),
                str(nsswitch), sys.executable, "-m", "falcolib", "run", "--json", "--stats", *extra]
        for r in rules:
            argv += ["--rules", str(r)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.alerts = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()


def _public_ipv4() -> str | None:
    """This host's global IPv4 address, if it is neither loopback nor RFC 1918 (the rule's
    exclusions)."""
    out = run(["ip", "-4", "-o", "addr", "show", "scope", "global"]).stdout.decode().split()
    for word in out:
        if "/" in word and word[0].isdigit():
            ip = ipaddress.ip_address(word.split("/")[0])
            if not ip.is_loopback and not any(ip in ipaddress.ip_network(n) for n in (
                    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")):
                return str(ip)
    return None


@pytest.fixture(scope="module")
def rng(tmp_path_factory):
    ip = _public_ipv4()
    if ip is None or not shutil.which("unshare"):
        pytest.skip("needs unshare and a global IPv4 address outside RFC 1918")
    work = tmp_path_factory.mktemp("dns")
    (work / "hosts").write_text(f"127.0.0.1 localhost\n{ip} {POOL}\n{K8S_IP} {K8S_API}\n")
    (work / "nsswitch.conf").write_text("hosts: files\n")
    (work / "tune.yaml").write_text(TUNE)
    mon = _HostsMonitor(work / "hosts", work / "nsswitch.conf", *(RULES / f for f in OFFICIAL),
                        work / "tune.yaml", extra=("--set", "rule_matching=all"))
    r = Range(mon, work)
    r.ip = ip
    r.sync()
    yield r
    err = mon.stop()
    assert mon.proc.returncode == 0, err


def _connect(rng):
    """A python3 process connecting to a listener on this host's address, port PORT."""
    try:
        srv = socket.create_server((rng.ip, PORT))
    except OSError as e:
        pytest.skip(f"port {PORT} on {rng.ip}: {e}")
    code = f"import socket; socket.create_connection(({rng.ip!r}, {PORT})).close()"

    def attack():
        run([rng.python_as("python3"), "-c", code])
        srv.accept()[0].close()
    return srv, attack


class TestMinerPoolDomains:
    """A connection to an address a miner pool's name resolves to."""

    def test_connection_seen(self, rng):
        srv, attack = _connect(rng)
        with srv:
            a = rng.expect("Interpreted procs outbound network activity", attack,
                           lambda f: f["fd.name"].endswith(f"->{rng.ip}:{PORT}"))
        assert a is not None

    def test_miner_pool_port(self, rng):
        srv, attack = _connect(rng)
        with srv:
            a = rng.expect("Detect outbound connections to common miner pool ports", attack,
                           lambda f: f["fd.name"].endswith(f"->{rng.ip}:{PORT}"))
        assert a is not None
        assert a["output_fields"]["fd.rip"] == rng.ip


class TestK8sApiServer:
    """'Contact K8S API Server From Container' (stable): a container connecting to the address
    the API server's service name resolves to."""

    def test_container_contacts_api_server(self, rng):
        if not shutil.which("podman"):
            pytest.skip("needs podman")
        image = busybox_image(rng.work)
        ids: list[str] = []

        def attack():
            cid = rng.work / f"k8s-{marker()}"
            # a listener in the container's own network namespace: the connection succeeds
            # (a refused one gives the socket no peer, in libs as here)
            script = (f"(busybox nc -l -p 443 &); sleep 0.3; "
                      f"busybox nc -w 1 {K8S_IP} 443 </dev/null; true")
            ids.append(container(image, cid, "sh", "-c", script))
        a = rng.expect("Contact K8S API Server From Container", attack,
                       lambda f: f["container.id"] in ids)
        assert a is not None
        f = a["output_fields"]
        assert f["fd.name"].endswith(f"->{K8S_IP}:443")
        assert f["container.name"].startswith("k8s-")
