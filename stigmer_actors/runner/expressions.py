"""CEL expressions and ``{{ expr }}`` string templates, compiled once, evaluated per run.

CEL through cel-python (``celpy``): the maintained pure-Python implementation of Google's
Common Expression Language, so no native build is needed; its parser is slow (~6 ms an
expression), which is why everything is compiled once, at workflow compile time.
"""

from __future__ import annotations

import json
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


_PROGRAMS: dict[str, celpy.Runner] = {}


def program(expression: str) -> celpy.Runner:
    """The compiled program of an expression, compiled on first use and then reused."""
    found = _PROGRAMS.get(expression)
    if found is None:
        found = _PROGRAMS[expression] = _ENV.program(_ENV.compile(expression))
    return found


def evaluate(expression: str, variables: dict[str, Any]) -> Any:
    """The value of ``expression`` over JSON-like ``variables``, as plain Python (JSON-like).

    Raises ``ExpressionError`` naming the expression when evaluation fails (a missing key,
    a type mismatch), so a node fails with a message the author can act on.
    """
    activation = {name: celpy.json_to_cel(value) for name, value in variables.items()}
    try:
        return to_python(program(expression).evaluate(activation))
    except celpy.CELEvalError as error:
        cause = error.args[0] if error.args else error
        raise ExpressionError(f"CEL `{expression}`: {cause}") from None
    except celpy.CELParseError as error:
        raise ExpressionError(f"CEL `{expression}` does not parse: {' '.join(str(error).split())}") from None


def render(value: Any, variables: dict[str, Any]) -> Any:
    """``value`` with every ``{{ expr }}`` inside its strings replaced by the expression's value.

    A string that is exactly one template keeps the value's type (a number stays a number).
    """
    if isinstance(value, dict):
        return {key: render(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, variables) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    matches = list(TEMPLATE.finditer(value))
    if len(matches) == 1 and not value[: matches[0].start()].strip() and not value[matches[0].end():].strip():
        return evaluate(matches[0].group(1).strip(), variables)
    return TEMPLATE.sub(lambda m: _text(evaluate(m.group(1).strip(), variables)), value)


def to_python(value: Any) -> Any:
    """A CEL value as plain JSON-like Python (celpy's types subclass the Python ones)."""
    if isinstance(value, celpy.celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celpy.celtypes.IntType, celpy.celtypes.UintType)):
        return int(value)
    if isinstance(value, celpy.celtypes.DoubleType):
        return float(value)
    if isinstance(value, celpy.celtypes.StringType):
        return str(value)
    if isinstance(value, dict):
        return {str(to_python(k)): to_python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_python(item) for item in value]
    if value is None or isinstance(value, celpy.celtypes.NullType):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class ExpressionError(ValueError):
    """A CEL expression failed at run time."""
