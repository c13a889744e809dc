"""``--address`` checked on the command line, so a malformed one is a usage line (exit 2)
rather than whatever grpc makes of it (a log line from its core, a refused bind, or a
connection attempt to nowhere)."""

from __future__ import annotations

import argparse

TARGET_SCHEMES = ("unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:")
"""grpc's own target forms (``unix:/run/stigmer.sock``, ``dns:///host:port``): passed on
as they are, grpc judges them."""


def dial_address(text: str) -> str:
    """A daemon to call: ``HOST:PORT`` with a port from 1 to 65535, or the nodes of a cluster,
    ``HOST:PORT,HOST:PORT,...`` (``client/addresses.py``)."""
    for part in text.split(","):
        _checked(part.strip(), lowest_port=1, example="127.0.0.1:50051, or 10.0.0.1:50051,10.0.0.2:50051")
    return text


def listen_address(text: str) -> str:
    """Where ``serve`` listens: ``HOST:PORT``; port 0 takes any free one (the log says which)."""
    return _checked(text, lowest_port=0, example="127.0.0.1:50051, or 0.0.0.0:50051 for every interface")


def _checked(text: str, lowest_port: int, example: str) -> str:
    if text.startswith(TARGET_SCHEMES):
        return text
    host, colon, port = text.rpartition(":")
    if not colon:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. {example})")
    if not host:
        raise argparse.ArgumentTypeError(f"{text!r} has no host: give one, e.g. {example}")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 host in brackets, e.g. [::1]:50051")
    if not (port.isascii() and port.isdigit() and lowest_port <= int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number from {lowest_port} to 65535")
    return text
