"""How every ``stigmer-actors`` command line is parsed: help that shows each default, and
argparse ``type`` functions whose refusals become one usage line (exit 2)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" after each help text, except where it would say nothing
    (no default, a flag that is off, an empty value) or the help already names the default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default is None or default is False or default == "" or default == [] or "default" in text.lower():
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with ``HelpFormatter``. Subcommand parsers are made with the class
    of the parser that holds them, so one ``Parser`` at the top reaches every command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


Commands: TypeAlias = "argparse._SubParsersAction[Parser]"
"""What each command module adds its parsers to (``add_parser(commands, ...)``)."""


def subparsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every command's parser under ``parser``, depth first (``create``, ``create agent``, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from subparsers(child)


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    """A parser that runs a command (it has no subcommands of its own)."""
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def bounded(
    kind: type[int] | type[float], low: float, high: float, unit: str = "", above: bool = False
) -> Callable[[str], int | float]:
    """An argparse ``type`` taking ``kind`` values from ``low`` (or, with ``above``, more
    than ``low``) to ``high``; argparse turns a refusal into one usage line and exit 2."""
    lo, hi = _number(low), _number(high)
    span = f"more than {lo} and at most {hi}" if above else f"from {lo} to {hi}"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ((value > low if above else value >= low) and value <= high):  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is out of bounds: it must be {span}{unit}")
        return value

    return parse


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"
