"""Where a client connects: one daemon, or several nodes of a cluster.

``HOST:PORT`` is dialled as given. ``HOST:PORT,HOST:PORT,...`` (the nodes of one cluster)
becomes one channel over all of them with grpc's ``round_robin`` policy: calls spread over
the nodes that are up, and a node that dies is left out until it is back, so a call
retried after UNAVAILABLE goes to another node. Host names are resolved once, here.
"""

from __future__ import annotations

import socket

ROUND_ROBIN: list[tuple[str, object]] = [("grpc.lb_policy_name", "round_robin")]


def channel_target(address: str) -> tuple[str, list[tuple[str, object]]]:
    """The grpc target for ``address`` and the channel options it needs."""
    parts = [part.strip() for part in address.split(",") if part.strip()]
    if len(parts) <= 1:
        return address.strip(), []
    resolved = [_resolve(part) for part in parts]
    families = {family for family, _ in resolved}
    scheme = "ipv6" if families == {"ipv6"} else "ipv4"
    if len(families) > 1:
        raise ValueError(f"{address}: give the nodes all as IPv4 or all as IPv6 addresses")
    return f"{scheme}:" + ",".join(endpoint for _, endpoint in resolved), ROUND_ROBIN


def _resolve(part: str) -> tuple[str, str]:
    host, _, port = part.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{part!r} is not HOST:PORT")
    host = host.strip("[]")
    info = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
    ip = info[4][0]
    if info[0] == socket.AF_INET6:
        return "ipv6", f"[{ip}]:{port}"
    return "ipv4", f"{ip}:{port}"
