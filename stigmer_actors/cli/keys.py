"""``stigmer-actors keys create | list | revoke``: the API keys file ``serve --api-keys`` reads.

``create`` prints the new key once, as the last word of its output: the file keeps only
its hash. A running daemon picks up every change within about a second.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stigmer_actors.security import keys
from stigmer_actors.security.errors import SecurityFileError
from stigmer_actors.security.roles import NAMES


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    k = commands.add_parser("keys", help="API keys: create, list, revoke")
    what = k.add_subparsers(dest="action", required=True)
    file = argparse.ArgumentParser(add_help=False)
    file.add_argument("--api-keys", type=Path, required=True, metavar="FILE",
                      help="the keys file (serve --api-keys FILE)")
    c = what.add_parser("create", parents=[file], help="add a key; prints it, once")
    c.add_argument("--role", required=True, choices=NAMES,
                   help="viewer: read and watch; runner: also report and claim; admin: everything")
    c.add_argument("--name", required=True, help="how the key shows in lists and logs")
    c.set_defaults(run=run_create)
    what.add_parser("list", parents=[file], help="names, roles, creation times").set_defaults(run=run_list)
    r = what.add_parser("revoke", parents=[file], help="remove a key (a daemon stops accepting it)")
    r.add_argument("name", help="the name the key was created with")
    r.set_defaults(run=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    try:
        entry, key = keys.create(args.api_keys, args.name, args.role)
    except ValueError as error:
        return _failed(str(error))
    except OSError as error:
        return _failed(f"cannot write the keys file {args.api_keys} ({error.strerror or error})")
    print(f"key {entry.name!r} ({entry.role.label}) added to {args.api_keys}; "
          f"it is shown only now, keep it secret:\n{key}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        entries = keys.read(args.api_keys)
    except SecurityFileError as error:
        return _failed(str(error))
    for entry in entries:
        print(f"{entry.name}  {entry.role.label}  {entry.created or '-'}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    try:
        entry = keys.revoke(args.api_keys, args.name)
    except LookupError as error:
        return _failed(error.args[0])
    except OSError as error:
        return _failed(f"cannot write the keys file {args.api_keys} ({error.strerror or error})")
    print(f"key {entry.name!r} ({entry.role.label}) revoked")
    return 0


def _failed(line: str) -> int:
    print(line, file=sys.stderr)
    return 2
