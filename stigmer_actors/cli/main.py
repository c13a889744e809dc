"""``stigmer-actors``: the daemon (``serve``) and a client for it (everything else)."""

from __future__ import annotations

import argparse
import sys

import grpc

from stigmer_actors.cli import commands, connect, keys, run, runner, serve, watch, workflows
from stigmer_actors.cli.startup import report_store_refusal
from stigmer_actors.client import StigmerClient
from stigmer_actors.contract import DEFAULT_ADDRESS
from stigmer_actors.store.open_errors import StoreOpenError


def parser() -> argparse.ArgumentParser:
    address = argparse.ArgumentParser(add_help=False)
    address.add_argument("--address", default=DEFAULT_ADDRESS, help="the daemon's HOST:PORT")
    connect.add_options(address)
    common = argparse.ArgumentParser(add_help=False, parents=[address])
    common.add_argument("--json", action="store_true", help="machine-readable output")
    top = argparse.ArgumentParser(prog="stigmer-actors", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    serve.add_parser(sub)
    commands.add_parsers(sub, common, address)
    watch.add_parser(sub, common)
    workflows.add_parser(sub, common)
    run.add_parser(sub, common)
    runner.add_parser(sub)
    keys.add_parser(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("serve", "runner", "keys"):
        try:
            return args.run(args)
        except StoreOpenError as error:
            return report_store_refusal(error)
    try:
        client = StigmerClient(args.address, credentials=connect.credentials(args))
    except (OSError, ValueError) as error:  # a TLS file that cannot be read, half a certificate
        print(error.strerror if isinstance(error, OSError) and error.strerror else error, file=sys.stderr)
        return 2
    with client:
        try:
            return args.run(args, client)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
