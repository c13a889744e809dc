"""``stigmer-actors``: the daemon (``serve``) and a client for it (everything else)."""

from __future__ import annotations

import argparse
import sys

import grpc

from stigmer_actors.cli import commands, run, runner, serve, watch, workflows
from stigmer_actors.cli.startup import report_store_refusal
from stigmer_actors.client import StigmerClient
from stigmer_actors.contract import ADDRESS_ENV, DEFAULT_ADDRESS, daemon_address
from stigmer_actors.store.open_errors import StoreOpenError


def parser() -> argparse.ArgumentParser:
    address = argparse.ArgumentParser(add_help=False)
    address.add_argument("--address", default=daemon_address(), help=f"the daemon's HOST:PORT "
                         f"(default: ${ADDRESS_ENV} if set, else {DEFAULT_ADDRESS})")
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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command in ("serve", "runner"):
        try:
            return args.run(args)
        except StoreOpenError as error:
            return report_store_refusal(error)
    with StigmerClient(args.address) as client:
        try:
            return args.run(args, client)
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
