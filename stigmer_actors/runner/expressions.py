"""CEL expressions and ``{{ expr }}`` string templates, compiled once, evaluated per run.

CEL through cel-python (``celpy``): the maintained pure-Python implementation of Google's
Common Expression Language, so no native build is needed; its parser is slow (~6 ms an
expression), which is why everything is compiled once, at workflow compile time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import celpy

TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_ENV = celpy.Environment()


def check(expression: str) -> str | None:
    """None if ``expression`` parses as CEL, else the parser's complaint (one line)."""
    try:
        _ENV.compile(expression)
    except celpy.CELParseError as error:
        return " ".join(str(error).split())
    return None


def template_expressions(text: str) -> Iterator[str]:
    """The CEL expressions inside ``{{ ... }}`` in a string."""
    for match in TEMPLATE.finditer(text):
        yield match.group(1).strip()


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a nested structure of dicts and lists (for template checks)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
