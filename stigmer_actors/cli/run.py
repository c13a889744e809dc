"""``stigmer-actors run FILE [--input K=V ...]``: apply a workflow, start it, watch it to the end.

The daemon's runner (``serve``'s own, or a ``stigmer-actors runner``) does the work; this
command is a client: apply the definition (a no-op when unchanged), create the execution
with the inputs as ``spec.trigger_metadata``, then show it live exactly like ``watch``.
Exit code as ``watch``: 0 COMPLETED, 1 FAILED, 3 CANCELLED.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stigmer_actors.cli import watch
from stigmer_actors.cli.boundary import UsageError
from stigmer_actors.cli.inputs import read_file
from stigmer_actors.cli.parsing import Commands, Parser
from stigmer_actors.client import StigmerClient


def add_parser(commands: Commands, common: Parser) -> None:
    p = commands.add_parser("run", parents=[common], help="run a workflow file and watch it")
    p.add_argument("file", type=Path, help="the workflow definition (YAML or JSON)")
    p.add_argument("--input", action="append", default=[], metavar="KEY=VALUE",
                   help="a run input (VALUE is JSON when it parses, else a string); repeatable")
    watch.add_reconnect_option(p)
    p.set_defaults(run=run)


def inputs(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input {pair!r}: expected KEY=VALUE")
        values[key] = value
    return values


def run(args: argparse.Namespace, client: StigmerClient) -> int:
    values = inputs(args.input)
    applied = client.apply_workflow(read_file(args.file)).definition
    execution = client.create_workflow(workflow_id=applied.name, trigger_metadata=values)
    if not args.json:
        print(f"{execution.metadata.id}: {applied.name} v{applied.version}", flush=True)
    args.id = execution.metadata.id
    return watch.run(args, client)
