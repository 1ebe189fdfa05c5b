"""fd.* fields of sockets: client/server and local/remote endpoints, ports, protocols.

Part of the ``fd`` field class (declared in ``falcolib.fields.fd``, which imports this
module where these fields stand in the catalogue). For an ip socket ``sip:sport`` is the
client and ``dip:dport`` the server; a listening socket has only its bound address.
"""
from __future__ import annotations

from falcolib.fields.catalogue import FieldType as T
from falcolib.fields.fd import _field, _sock
from falcolib.state import fdinfo as F


def _is_local(view, ip: str) -> bool:
    """sysdig's is_ipv4/ipv6addr_in_local_machine (ipv6: same /64; never inside containers)."""
    if ":" in ip:
        t = view.thread
        if t is not None and t.container_id:
            return False
        return view.state.ifaces.is_local_v6(ip)
    return view.state.ifaces.is_local_v4(ip)



@_field("fd.cip", T.IPADDR, "client IP address.")
def fd_cip(view):
    fi = _sock(view)
    if fi is None or fi.role_none or fi.type not in F.IP_SOCK:
        return None
    return fi.sip


@_field("fd.sip", T.IPADDR, "server IP address.")
def fd_sip(view):
    fi = _sock(view)
    if fi is None or fi.role_none or fi.type not in F.SOCKET_TYPES:
        return None
    return fi.dip if fi.type in F.IP_SOCK else fi.sip


def _local_remote(view, local: bool, want_port: bool):
    fi = _sock(view)
    if fi is None or fi.type not in F.IP_SOCK or fi.role_none:
        return None
    src_is_local = _is_local(view, fi.sip)
    use_src = src_is_local == local
    if want_port:
        return fi.sport if use_src else fi.dport
    return fi.sip if use_src else fi.dip


_field("fd.lip", T.IPADDR, "local IP address.")(lambda view: _local_remote(view, True, False))
_field("fd.rip", T.IPADDR, "remote IP address.")(lambda view: _local_remote(view, False, False))
_field("fd.lport", T.PORT, "for TCP/UDP FDs, the local port.")(lambda view: _local_remote(view, True, True))
_field("fd.rport", T.PORT, "for TCP/UDP FDs, the remote port.")(lambda view: _local_remote(view, False, True))
_field("fd.lnet", T.IPNET, "matches the local IP network of the fd.", filter_only=True)(
    lambda view: _local_remote(view, True, False))
_field("fd.rnet", T.IPNET, "matches the remote IP network of the fd.", filter_only=True)(
    lambda view: _local_remote(view, False, False))
_field("fd.cnet", T.IPNET, "matches the client IP network of the fd.", filter_only=True)(fd_cip)
_field("fd.snet", T.IPNET, "matches the server IP network of the fd.", filter_only=True)(fd_sip)


def _both_ends(view, ports: bool):
    """(any-of values: ``fd.ip = X`` matches either endpoint, ``!=`` neither)
    the addresses, or ``ports``, of both ends of an ip socket, or the bound one of a
    server socket (sysdig's compare_ip / compare_net / compare_port: no role needed)."""
    fi = _sock(view)
    if fi is None:
        return None
    if fi.type in F.IP_SOCK:
        return (fi.sport, fi.dport) if ports else (fi.sip, fi.dip)
    if fi.type in F.SERVSOCK:
        return (fi.sport,) if ports else (fi.sip,)
    return None


@_field("fd.ip", T.IPADDR, "matches the ip address (client or server) of the fd.", filter_only=True, list_without_arg=True, ne_all=True)
def fd_ip(view):
    return _both_ends(view, False)


_field("fd.net", T.IPNET, "matches the IP network (client or server) of the fd.", filter_only=True, list_without_arg=True, ne_all=True)(
    fd_ip)


@_field("fd.cport", T.PORT, "for TCP/UDP FDs, the client port.")
def fd_cport(view):
    fi = _sock(view)
    if fi is None or fi.role_none:
        return None
    # sysdig 0.29 falls through to fd.cproto's empty string for non-ip fds: it prints 0
    return fi.sport if fi.type in F.IP_SOCK else 0


@_field("fd.sport", T.PORT, "for TCP/UDP FDs, server port.")
def fd_sport(view):
    fi = _sock(view)
    if fi is None or fi.type not in F.SOCKET_TYPES:
        return None
    if fi.type in F.IP_SOCK:
        return None if fi.role_none else fi.dport
    return fi.sport


@_field("fd.port", T.PORT, "matches the port (either client or server) of the fd.", filter_only=True, list_without_arg=True, ne_all=True)
def fd_port(view):
    return _both_ends(view, True)


def _proto_of(port_fn):
    def _get(view):
        p = port_fn(view)
        return None if p is None else str(p)
    return _get


@_field("fd.cproto", T.CHARBUF, "for TCP/UDP FDs, the client protocol.")
def fd_cproto(view):
    # sysdig: the port as text for ip sockets, "" for any other fd with a role
    fi = _sock(view)
    if fi is None or fi.role_none:
        return None
    return str(fi.sport) if fi.type in F.IP_SOCK else ""


@_field("fd.sproto", T.CHARBUF, "for TCP/UDP FDs, server protocol.")
def fd_sproto(view):
    # sysdig: the port as text for ip sockets with a role, "" for listening sockets
    fi = _sock(view)
    if fi is None:
        return None
    if fi.type in F.IP_SOCK:
        return None if fi.role_none else str(fi.dport)
    return "" if fi.type in F.SERVSOCK else None
_field("fd.lproto", T.CHARBUF, "for TCP/UDP FDs, the local protocol.")(
    _proto_of(lambda v: _local_remote(v, True, True)))
_field("fd.rproto", T.CHARBUF, "for TCP/UDP FDs, the remote protocol.")(
    _proto_of(lambda v: _local_remote(v, False, True)))
# sysdig's fd.proto is fd.port under another name (compare_port for both); a
# PORT literal may be a service name, e.g. fd.proto = ssh (getservbyname)
_field("fd.proto", T.PORT, "matches the protocol (either client or server) of the fd.", filter_only=True, list_without_arg=True, ne_all=True)(
    fd_port)


@_field("fd.l4proto", T.CHARBUF, "the IP protocol of a socket. Can be 'tcp', 'udp', 'icmp' or 'raw'.")
def fd_l4proto(view):
    fi = _sock(view)
    if fi is None:
        return None
    return F.L4_NAMES.get(fi.l4(), "<NA>")


@_field("fd.sockfamily", T.CHARBUF, "the socket family for socket events. Can be 'ip' or 'unix'.")
def fd_sockfamily(view):
    fi = _sock(view)
    if fi is None:
        return None
    if fi.type in F.SOCKET_TYPES:
        return "ip"
    return "unix" if fi.type == F.FD_UNIX_SOCK else None


@_field("fd.is_server", T.BOOL, "'true' if the process owning this FD is the server endpoint in the connection.")
def fd_is_server(view):
    fi = _sock(view)
    if fi is None:
        return None
    if fi.type in F.SERVSOCK:
        return True
    if fi.type in F.IP_SOCK:
        return _is_local(view, fi.dip)
    return False
