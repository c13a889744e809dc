"""``stigmer-actors workflow apply FILE | list | get NAME | delete NAME``: the definitions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from stigmer_actors.cli.inputs import read_file
from stigmer_actors.cli.parsing import Commands, Parser
from stigmer_actors.client import StigmerClient


def add_parser(commands: Commands, common: Parser) -> None:
    w = commands.add_parser("workflow", help="workflow definitions: apply, list, get, delete")
    what = w.add_subparsers(dest="action", required=True)
    a = what.add_parser("apply", parents=[common], help="store a definition (YAML or JSON)")
    a.add_argument("file", type=Path, help="the definition (YAML or JSON)")
    a.set_defaults(run=run_apply)
    what.add_parser("list", parents=[common], help="the latest version of each").set_defaults(run=run_list)
    g = what.add_parser("get", parents=[common], help="one definition, with its source")
    g.add_argument("name", help="the workflow's name")
    g.add_argument("--version", type=int, default=0, help="which version (default: the latest)")
    g.set_defaults(run=run_get)
    d = what.add_parser("delete", parents=[common], help="remove a name (running executions keep theirs)")
    d.add_argument("name", help="the workflow's name")
    d.set_defaults(run=run_delete)


def _line(d: Any) -> str:
    return f"{d.name}  v{d.version}  {d.ir_hash[:12]}  applied {d.applied_at}"


def _json(message: Message) -> str:
    return json.dumps(json_format.MessageToDict(message), separators=(",", ":"))


def run_apply(args: argparse.Namespace, client: StigmerClient) -> int:
    response = client.apply_workflow(read_file(args.file))
    if args.json:
        print(_json(response))
    else:
        print(_line(response.definition) + ("" if response.changed else "  (unchanged)"))
    return 0


def run_list(args: argparse.Namespace, client: StigmerClient) -> int:
    for d in client.workflow_definitions():
        print(_json(d) if args.json else _line(d))
    return 0


def run_get(args: argparse.Namespace, client: StigmerClient) -> int:
    d = client.workflow_definition(args.name, args.version)
    print(_json(d) if args.json else _line(d) + "\n" + d.source.rstrip())
    return 0


def run_delete(args: argparse.Namespace, client: StigmerClient) -> int:
    d = client.delete_workflow_definition(args.name)
    print(_json(d) if args.json else _line(d) + "  deleted")
    return 0
