"""The client commands' one error boundary: each failure a user can cause or meet is one
line on stderr and an exit code (``cli/exits.py``). A traceback means a bug here.

Three sorts a script must tell apart: the command line is wrong (``UsageError``, exit 2),
the daemon refused the request (its gRPC status, exit 10), and no daemon answers (exit 11,
with a hint naming the address and how to start one).
"""

from __future__ import annotations

import sys

import grpc

from stigmer_actors.cli import exits
from stigmer_actors.client import StigmerClient
from stigmer_actors.contract import DEFAULT_ADDRESS

MAYBE_AWAY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
"""Codes that mean either "no daemon there" or "the daemon said so": the connection tells."""


class UsageError(Exception):
    """Something given on the command line is wrong (a file that cannot be read, a status
    that is not valid JSON): reported as argparse reports its own errors, exit 2."""


class Unreachable(Exception):
    """No daemon answers at ``address``; ``cause`` says what was seen (``Connection refused``)."""

    def __init__(self, address: str, cause: str) -> None:
        super().__init__(f"{address}: {cause}")
        self.address = address
        self.cause = cause


def cause_of(error: grpc.RpcError, timeout: float) -> str:
    """What a failed call says about the connection, in a few words."""
    if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"no answer within {timeout:g} s"
    details = str(error.details() or error.code().name)
    return details.rsplit(": ", 1)[-1]  # grpc's chain ends with the OS's words: "Connection refused"


def unreachable_line(address: str, cause: str) -> str:
    serve = "stigmer-actors serve" + ("" if address == DEFAULT_ADDRESS else f" --address {address}")
    return (f"cannot reach the daemon at {address} ({cause}): is it running? Start it with "
            f"`{serve}`, or give --address HOST:PORT of a running one")


def report_unreachable(error: Unreachable) -> int:
    print(unreachable_line(error.address, error.cause), file=sys.stderr)
    return exits.UNREACHABLE


def report_rpc_error(error: grpc.RpcError, client: StigmerClient) -> int:
    """``CODE: message`` (exit 10) for the daemon's answer; the unreachable hint (exit 11)
    when there is no connection to the daemon at all."""
    if error.code() in MAYBE_AWAY and not client.reachable():
        return report_unreachable(Unreachable(client.address, cause_of(error, client.timeout)))
    print(f"{error.code().name}: {error.details()}", file=sys.stderr)
    return exits.REFUSED


def report_usage(prog: str, error: UsageError) -> int:
    one_line = " ".join(str(error).split())  # protobuf's JSON errors span lines
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    return exits.USAGE
