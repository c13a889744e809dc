"""``stigmer-actors``: the daemon (``serve``), a workflow runner (``runner``), and a client for
the daemon (every other command).

The client commands need only the base install. ``serve`` and ``runner`` need the
``server`` extra, so their modules are loaded only when one of them is asked for, or when
the whole command line must be known (``completion``); a client command also starts
faster without them. Every failure a user can cause or meet ends as one line and an exit
code (``cli/boundary.py``, ``cli/exits.py``, ``cli/startup.py``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from types import ModuleType

import grpc

from stigmer_actors.cli import commands, completion, connect, exits, run, watch, workflows
from stigmer_actors.cli.addresses import dial_address
from stigmer_actors.cli.boundary import (
    Unreachable,
    UsageError,
    report_rpc_error,
    report_unreachable,
    report_usage,
)
from stigmer_actors.cli.parsing import Parser, is_leaf, subparsers
from stigmer_actors.client import StigmerClient
from stigmer_actors.contract import ADDRESS_ENV, DEFAULT_ADDRESS, daemon_address

DESCRIPTION = "An actor-model execution-status service for AI agent and workflow runs: the daemon and a client for it."
SERVER_COMMANDS = {
    "serve": "run the execution-status daemon",
    "runner": "run workflow executions for a daemon",
    "keys": "API keys: create, list, revoke",
}
"""The commands of the ``server`` extra, with their help (also shown when not loaded)."""
NEEDS_SERVER_PARSERS = {*SERVER_COMMANDS, "completion"}


def version() -> str:
    try:
        return importlib.metadata.version("stigmer-actors")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def server_modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    """``serve``'s, ``runner``'s and ``keys``' modules; ModuleNotFoundError without the
    server extra."""
    from stigmer_actors.cli import keys, runner, serve

    return serve, runner, keys


def parser(with_server: bool = True) -> Parser:
    """The whole command line; without ``with_server``, serve and runner are there by name
    and help only (their flags need their modules)."""
    address = Parser(add_help=False)
    address.add_argument("--address", type=dial_address, default=daemon_address(),
                         help=f"the daemon's HOST:PORT (default: ${ADDRESS_ENV} if set, else {DEFAULT_ADDRESS})")
    connect.add_options(address)
    common = Parser(add_help=False, parents=[address])
    common.add_argument("--json", action="store_true", help="print JSON (one object per line) instead of text")
    top = Parser(prog="stigmer-actors", description=DESCRIPTION)
    top.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = top.add_subparsers(dest="command", required=True)
    serve, runner, keys = server_modules() if with_server else (None, None, None)
    if serve is None:
        sub.add_parser("serve", help=SERVER_COMMANDS["serve"])
    else:
        serve.add_parser(sub)
    commands.add_parsers(sub, common)
    watch.add_parser(sub, common)
    workflows.add_parser(sub, common)
    run.add_parser(sub, common)
    completion.add_parser(sub)
    if runner is None or keys is None:
        sub.add_parser("runner", help=SERVER_COMMANDS["runner"])
        sub.add_parser("keys", help=SERVER_COMMANDS["keys"])
    else:
        runner.add_parser(sub)
        keys.add_parser(sub)
    for command in subparsers(top):
        if is_leaf(command):
            command.set_defaults(command_prog=command.prog)
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()  # output still buffered meets a closed pipe here, inside the boundary
        return code
    except BrokenPipeError:
        _discard_stdout()
        return exits.OUTPUT_CLOSED
    except KeyboardInterrupt:
        return exits.INTERRUPTED


def _main(argv: list[str]) -> int:
    # The top level has no option that takes a value: the first word is the command.
    command = next((word for word in argv if not word.startswith("-")), None)
    missing = _missing_server_dependency() if command in NEEDS_SERVER_PARSERS else None
    if command in SERVER_COMMANDS and missing:
        print(f"stigmer-actors {command} needs the server's dependencies ({missing} is missing): "
              "pip install 'stigmer-actors[server]'", file=sys.stderr)
        return exits.USAGE
    top = parser(with_server=command in NEEDS_SERVER_PARSERS and not missing)
    args = top.parse_args(argv)
    if args.command in SERVER_COMMANDS:
        return _server_command(args)
    if args.command == "completion":
        try:
            print(completion.script(top, args.shell))
        except UsageError as error:
            return report_usage(args.command_prog, error)
        return exits.OK
    return _client_command(args)


def _missing_server_dependency() -> str | None:
    """The module the server extra would bring that is not installed, if any."""
    try:
        server_modules()
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("stigmer_actors"):
            raise  # our own module missing is a broken install, not a missing extra
        return error.name or "a module"
    return None


def _server_command(args: argparse.Namespace) -> int:
    from stigmer_actors.cli.startup import report_store_refusal
    from stigmer_actors.store.open_errors import StoreOpenError

    try:
        return int(args.run(args))
    except StoreOpenError as error:
        return report_store_refusal(error)


def _client_command(args: argparse.Namespace) -> int:
    try:
        client = StigmerClient(args.address, credentials=connect.credentials(args))
    except (OSError, ValueError) as error:  # a TLS file that cannot be read, half a certificate
        return report_usage(args.command_prog, UsageError(
            error.strerror if isinstance(error, OSError) and error.strerror else str(error)))
    with client:
        try:
            return int(args.run(args, client))
        except grpc.RpcError as error:
            return report_rpc_error(error, client)
        except Unreachable as error:
            return report_unreachable(error)
        except UsageError as error:
            return report_usage(args.command_prog, error)


def _discard_stdout() -> None:
    """Point stdout at /dev/null: Python flushes it once more at exit, which would fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
