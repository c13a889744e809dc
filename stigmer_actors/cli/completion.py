"""``stigmer-actors completion bash|zsh|tcsh``: the shell's tab completion for every command.

Written by shtab from the parser itself, so it never lags behind a new flag. shtab rather
than argcomplete: its script is static, so the shell completes without starting Python at
each TAB (argcomplete runs the program each time: imports included, a tenth of a second
or more), it needs no hook in the program's start-up, and it has no dependencies. What it
cannot do is ask the daemon (execution ids are not completed). It comes with the
``server`` extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stigmer_actors.cli.boundary import UsageError
from stigmer_actors.cli.parsing import Commands, subparsers

SHELLS = ("bash", "zsh", "tcsh")


def add_parser(commands: Commands) -> None:
    p = commands.add_parser("completion", help="print the shell's tab-completion script")
    p.add_argument("shell", choices=SHELLS,
                   help='e.g. in ~/.bashrc: eval "$(stigmer-actors completion bash)"')


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script of ``parser`` for ``shell``; file arguments complete paths."""
    try:
        import shtab
    except ModuleNotFoundError:
        raise UsageError("shell completion needs shtab: pip install 'stigmer-actors[server]'") from None
    for command in (parser, *subparsers(parser)):
        for action in command._actions:
            if action.type is Path:
                action.complete = shtab.DIRECTORY if action.dest.endswith("dir") else shtab.FILE  # type: ignore[attr-defined]
    return str(shtab.complete(parser, shell=shell))
