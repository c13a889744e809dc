"""CEL expressions and ``{{ expr }}`` string templates: checked at apply, evaluated on a budget.

CEL through cel-python (``celpy``): the maintained pure-Python implementation of Google's
Common Expression Language, so no native build is needed. Its parser is pure Python and
superlinear in a long expression (~35 µs a character at 1,000 characters); its evaluator
is a tree walker that recurses once per syntax-tree level.

What one expression may cost is bounded twice:
- at apply, ``check`` refuses a text longer than ``limits.EXPRESSION_CHARS`` or a syntax
  tree deeper than ``limits.EXPRESSION_DEPTH`` (the evaluator would run out of stack);
- while it runs, every syntax-tree node the evaluator visits spends from a ``Budget``: one
  step, plus one per element of the list, map or string it yields, so building or reading
  big values costs what it weighs. Each step also checks the budget's deadline (the
  node's ``timeout``) and its halt event (the run was cancelled, failed or is stopping), so
  an evaluation in progress stops within one step of either. ``matches`` uses RE2 (celpy's
  choice): linear in the text, no catastrophic backtracking.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import celpy
from celpy.evaluation import Evaluator

from stigmer_actors.runner import limits

TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
_ENV = celpy.Environment()
_SIZED = (list, dict, str, bytes)


class ExpressionError(ValueError):
    """A CEL expression failed at run time (an error in it, or its budget spent)."""


class EvaluationTimedOut(ExpressionError):
    """The budget's deadline (the node's ``timeout``) passed while expressions ran."""


class RunHalted(Exception):
    """The run is ending (cancelled, failed by someone else, runner stopping): nothing to record."""


class Budget:
    """What the expressions of one node attempt, or of one node's routing, may spend."""

    __slots__ = ("left", "timeout", "_deadline", "_halt")

    def __init__(self, timeout: float | None = None, halt: threading.Event | None = None) -> None:
        self.left = limits.EXPRESSION_STEPS
        self.timeout = timeout
        self._deadline = time.monotonic() + timeout if timeout else math.inf
        self._halt = halt

    def spend(self, steps: int) -> None:
        """Take ``steps``; raise (internally) when the budget, the deadline or the run is over."""
        self.left -= steps
        if self.left < 0:
            raise _Spent()
        if self._halt is not None and self._halt.is_set():
            raise _Halted()
        if time.monotonic() > self._deadline:
            raise _Late()


class _Stop(Exception):
    """Unwinds out of celpy's evaluator. Deliberately not a ValueError or TypeError: celpy
    turns those into CEL error values, which ``||`` and ``exists`` may then ignore."""


class _Spent(_Stop):
    pass


class _Late(_Stop):
    pass


class _Halted(_Stop):
    pass


class _BudgetedEvaluator(Evaluator):
    """celpy's evaluator, spending from a Budget at every syntax-tree node it visits (the
    nested evaluators of macros such as ``map`` share their parent's budget)."""

    def __init__(self, ast: Any, activation: Any, budget: Budget) -> None:
        super().__init__(ast, activation)
        self.budget = budget

    def sub_evaluator(self, ast: Any) -> Evaluator:
        return _BudgetedEvaluator(ast, self.activation, self.budget)

    def _visit_tree(self, tree: Any) -> Any:
        value = super()._visit_tree(tree)
        self.budget.spend(1 + len(value) if isinstance(value, _SIZED) else 1)
        return value


def check(expression: str) -> str | None:
    """None if ``expression`` is CEL the runner can evaluate, else why not (one line)."""
    if len(expression) > limits.EXPRESSION_CHARS:
        return f"is {len(expression):,} characters long (at most {limits.EXPRESSION_CHARS:,})"
    try:
        ast = _ENV.compile(expression)
    except celpy.CELParseError as error:
        return "does not parse: " + " ".join(str(error).split())
    depth = _depth(ast)
    if depth > limits.EXPRESSION_DEPTH:
        return f"nests {depth} levels deep in its syntax tree (at most {limits.EXPRESSION_DEPTH})"
    return None


def _depth(tree: Any) -> int:
    """Levels of a syntax tree, walked without recursion."""
    deepest, todo = 0, [(tree, 1)]
    while todo:
        node, level = todo.pop()
        deepest = max(deepest, level)
        todo += [(child, level + 1) for child in getattr(node, "children", ()) if hasattr(child, "children")]
    return deepest


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


class Scope:
    """Variables as CEL sees them, converted once for all the expressions of a node."""

    def __init__(self, variables: dict[str, Any], base: dict[str, Any] | None = None) -> None:
        self._plain = variables
        self._base = base
        self._cel: dict[str, Any] | None = None

    def bind(self, **more: Any) -> Scope:
        """This scope plus ``more`` (a filter's ``item``), converting only ``more``."""
        return Scope(more, base=self.activation())

    def activation(self) -> dict[str, Any]:
        if self._cel is None:
            try:
                converted = {name: celpy.json_to_cel(value) for name, value in self._plain.items()}
            except (ValueError, TypeError) as error:
                raise ExpressionError(f"a value CEL cannot hold: {error}") from None
            self._cel = {**(self._base or {}), **converted}
        return self._cel


@functools.lru_cache(maxsize=10_000)
def _program(expression: str) -> Any:
    """The compiled program of an expression, compiled on first use and then reused (the
    most recently used 10,000: definitions keep coming, each with its own expressions)."""
    return _ENV.program(_ENV.compile(expression))


def evaluate(expression: str, variables: Scope | dict[str, Any], budget: Budget | None = None) -> Any:
    """The value of ``expression`` over JSON-like ``variables``, as plain Python (JSON-like).

    Raises ``ExpressionError`` naming the expression when evaluation fails (a missing key,
    a type mismatch, the budget spent), ``EvaluationTimedOut`` when the budget's deadline
    passes, ``RunHalted`` when its run is ending. Without a budget, a fresh one.
    """
    scope = variables if isinstance(variables, Scope) else Scope(variables)
    budget = budget if budget is not None else Budget()
    try:
        program = _program(expression)
        evaluator = _BudgetedEvaluator(program.ast, program.new_activation(), budget)
        return to_python(evaluator.evaluate(scope.activation()), budget)
    except celpy.CELEvalError as error:
        cause = error.args[0] if error.args else error
        raise ExpressionError(f"CEL `{_shown(expression)}`: {cause}") from None
    except celpy.CELParseError as error:
        raise ExpressionError(f"CEL `{_shown(expression)}` does not parse: {' '.join(str(error).split())}") from None
    except _Spent:
        raise ExpressionError(f"CEL `{_shown(expression)}`: stopped after {limits.EXPRESSION_STEPS:,} "
                              f"evaluation steps, the most one node's expressions may take") from None
    except _Late:
        raise EvaluationTimedOut(f"timed out after {budget.timeout:g} s") from None
    except _Halted:
        raise RunHalted() from None
    except RecursionError:
        raise ExpressionError(f"CEL `{_shown(expression)}`: its values nest too deeply to evaluate") from None


def render(value: Any, variables: Scope | dict[str, Any], budget: Budget | None = None) -> Any:
    """``value`` with every ``{{ expr }}`` inside its strings replaced by the expression's value.

    A string that is exactly one template keeps the value's type (a number stays a number).
    """
    scope = variables if isinstance(variables, Scope) else Scope(variables)
    budget = budget if budget is not None else Budget()
    if isinstance(value, dict):
        return {key: render(item, scope, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, scope, budget) for item in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    matches = list(TEMPLATE.finditer(value))
    if len(matches) == 1 and not value[: matches[0].start()].strip() and not value[matches[0].end():].strip():
        return evaluate(matches[0].group(1).strip(), scope, budget)
    return TEMPLATE.sub(lambda m: _text(evaluate(m.group(1).strip(), scope, budget)), value)


def to_python(value: Any, budget: Budget | None = None) -> Any:
    """A CEL value as plain JSON-like Python (celpy's types subclass the Python ones).

    Each element converted spends a step: a result that repeats a big value many times
    (``l.map(x, input.big)``) costs its expanded size here, not only in the evaluator.
    """
    if budget is not None:
        budget.spend(1)
    if isinstance(value, celpy.celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celpy.celtypes.IntType, celpy.celtypes.UintType)):
        return int(value)
    if isinstance(value, celpy.celtypes.DoubleType):
        return float(value)
    if isinstance(value, celpy.celtypes.StringType):
        return str(value)
    if isinstance(value, dict):
        return {str(to_python(k, budget)): to_python(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [to_python(item, budget) for item in value]
    if value is None or isinstance(value, celpy.celtypes.NullType):
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _shown(expression: str) -> str:
    """An expression as an error message quotes it (the whole text up to 200 characters)."""
    return expression if len(expression) <= 200 else expression[:197] + "..."
