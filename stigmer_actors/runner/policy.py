"""What a workflow's nodes may reach, as the operator of the daemon (or runner) allows it.

A definition comes from a caller; these keep it from choosing code or network targets
the operator did not choose:

- ``python`` nodes call ``module:function``. Only modules within ``--python-modules``
  (each entry allows itself and its submodules) are accepted. The check is on the name
  alone: apply imports nothing (importing runs a module's top-level code). The import
  happens in the runner, when the node runs, and the runner checks the name again
  (definitions stored before the list was narrowed). Importing ``pkg.sub`` runs
  ``pkg/__init__.py`` too: allowing a module trusts its parent packages.
- ``http`` nodes connect only to hosts whose every address is public (no loopback,
  private, link-local, shared, reserved, multicast or unspecified address), unless
  ``--http-hosts`` lists the hosts (names, IP addresses or networks) they may reach
  instead. The addresses checked are the ones connected to (``http_fetch``), on every
  redirect too. A response may take ``HTTP_SECONDS`` in all and be ``HTTP_BYTES`` long.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

HTTP_SECONDS = 30.0
"""The most an http node's request may take, connection, redirects and body included (a
node's ``timeout`` can make it shorter)."""
HTTP_BYTES = 1024 * 1024
"""The largest response body an http node accepts (the output also has to fit in the
run's status: a stored state is at most 4,190,208 bytes)."""
HTTP_REDIRECTS = 5

_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class PythonModules:
    """The modules ``python`` nodes may call into: each entry and its submodules."""

    allowed: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> PythonModules:
        """From ``pkg,pkg.sub`` (the flag's form); ValueError naming a bad entry."""
        entries = tuple(e.strip() for e in text.split(",") if e.strip())
        for entry in entries:
            if not _MODULE.match(entry):
                raise ValueError(f"{entry!r} is not a module name (such as mypkg or mypkg.hooks)")
        return cls(entries)

    def allows(self, module: str) -> bool:
        return any(module == a or module.startswith(a + ".") for a in self.allowed)

    def refusal(self, target: str) -> str:
        """Why ``target`` (module:function) may not be called, and how to allow it."""
        module = target.partition(":")[0]
        if not self.allowed:
            return (f"call {target}: no python module is allowed here; start the daemon (and its "
                    f"runner) with --python-modules {module} to allow it")
        listed = ",".join(self.allowed)
        listed = listed if len(listed) <= 60 else listed[:57] + "..."
        return f"call {target}: {module} is not within --python-modules {listed}; add it there to allow it"


@dataclass(frozen=True)
class HttpHosts:
    """Where ``http`` nodes may connect: ``None`` entries means any public address."""

    names: frozenset[str] | None = None
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> HttpHosts:
        """From ``api.example.com,10.1.2.3,10.0.0.0/8`` (the flag's form)."""
        names: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if not re.match(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", entry):
                    raise ValueError(f"{entry!r} is not a host name, an IP address or a network") from None
                names.add(entry.lower().rstrip("."))
        return cls(frozenset(names), tuple(networks))

    @property
    def listed(self) -> bool:
        return self.names is not None

    def refusal(self, host: str, addresses: list[Address]) -> str | None:
        """Why ``host``, resolving to ``addresses``, may not be reached; None if it may."""
        if self.listed:
            assert self.names is not None
            if host.lower().rstrip(".") in self.names:
                return None
            outside = [a for a in addresses if not any(_unmapped(a) in n for n in self.networks)]
            if not outside:
                return None
            shown = ", ".join(map(str, outside[:3]))
            return (f"host {host} ({shown}) is not in the hosts http nodes may reach "
                    f"(--http-hosts): add it there to allow it")
        for address in addresses:
            why = _not_public(address)
            if why:
                return (f"host {host} is {_unmapped(address)} ({why}): http nodes reach only public "
                        f"addresses unless the operator lists the host with --http-hosts")
        return None


@dataclass(frozen=True)
class NodePolicy:
    python: PythonModules = field(default_factory=PythonModules)
    http: HttpHosts = field(default_factory=HttpHosts)


def _unmapped(address: Address) -> Address:
    """An IPv4 address written as IPv6 (``::ffff:127.0.0.1``) is that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _not_public(address: Address) -> str:
    """What sort of non-public address this is ("" if public)."""
    a = _unmapped(address)
    for what, test in (("unspecified", a.is_unspecified), ("loopback", a.is_loopback),
                       ("link-local", a.is_link_local), ("multicast", a.is_multicast),
                       ("private", a.is_private), ("reserved", a.is_reserved),
                       ("not globally routed", not a.is_global)):
        if test:
            return what
    return ""
