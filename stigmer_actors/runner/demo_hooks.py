"""Callables the examples' python nodes use (``examples/*.yaml``).

They live in the package so that a daemon started anywhere can import them. Each has the
``python`` node signature ``f(input: dict, ctx) -> dict``: ``input`` is the run input
overlaid with the node's ``with`` parameters (``call`` removed); ``ctx`` has ``run_id``,
``node``, ``iteration``, ``attempt`` (1-based), ``params``, ``input``, ``nodes`` and
``cancelled``. Offline and deterministic.
"""

from __future__ import annotations

from typing import Any


def flaky_count(input: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """A loop body step that fails on its first ``fail_attempts`` attempts (default 1) of
    every iteration, then succeeds with ``count`` = iteration + 1 and the attempt it took."""
    fail_attempts = int(input.get("fail_attempts", 1))
    if ctx.attempt <= fail_attempts:
        raise RuntimeError(f"simulated failure (iteration {ctx.iteration}, attempt {ctx.attempt})")
    return {"count": ctx.iteration + 1, "attempt": ctx.attempt}
