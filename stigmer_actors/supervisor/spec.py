"""``NAME=COMMAND``: what ``serve --runner`` takes, checked before anything starts.

COMMAND is split into words as a POSIX shell would (quotes, backslashes), with no shell
features (no pipes, variables or redirections): the runner's process is the command itself,
so signals reach it and its pid is its own.

Which executions a runner serves decides whose pending timeouts its absence explains: a
NAME that starts with ``workflow`` serves workflow executions (``--runner
workflows="stigmer-actors runner"``), any other NAME agent executions.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
"""Lower-case letters, digits, ``-`` and ``_``, at most 32: it names a directory and log lines."""
MAX_COMMAND = 4096
"""Characters in one COMMAND."""
MAX_RUNNERS = 32
"""Runners one daemon supervises (each holds two threads and a process)."""


@dataclass(frozen=True)
class RunnerSpec:
    name: str
    command: str
    """As given, for listings."""
    argv: tuple[str, ...]
    kind: Kind


def kind_of(name: str) -> Kind:
    return WORKFLOW if name.startswith("workflow") else AGENT


def parse_runner(text: str) -> RunnerSpec:
    """``NAME=COMMAND`` as a RunnerSpec; ValueError saying what is wrong."""
    name, equals, command = text.partition("=")
    name = name.strip()
    if not equals:
        raise ValueError(f"{text!r} is not NAME=COMMAND (e.g. agents=\"python -m my_runner\")")
    if not NAME.fullmatch(name):
        raise ValueError(f"runner name {name!r} must be 1 to 32 of a-z, 0-9, '-', '_' "
                         "(starting with a letter or digit)")
    if len(command) > MAX_COMMAND:
        raise ValueError(f"the command of runner {name!r} is {len(command):,} characters; "
                         f"at most {MAX_COMMAND:,}")
    try:
        argv = tuple(shlex.split(command))
    except ValueError as error:
        raise ValueError(f"the command of runner {name!r} cannot be split into words: {error}") from None
    if not argv:
        raise ValueError(f"runner {name!r} has an empty command")
    return RunnerSpec(name, command.strip(), argv, kind_of(name))


def check_runners(specs: list[RunnerSpec]) -> None:
    """ValueError if two runners share a name, or there are too many."""
    if len(specs) > MAX_RUNNERS:
        raise ValueError(f"{len(specs)} runners; at most {MAX_RUNNERS}")
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"two runners are named {spec.name!r}: give each its own NAME")
        seen.add(spec.name)
