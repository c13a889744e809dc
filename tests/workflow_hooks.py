"""Callables that workflow definitions in the tests point ``python`` nodes at."""

from __future__ import annotations

NOT_CALLABLE = 42


def echo(input: dict, ctx: object) -> dict:  # noqa: A002 - the node interface's name
    return dict(input)
