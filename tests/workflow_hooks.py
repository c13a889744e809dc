"""Callables that workflow definitions in the tests point ``python`` nodes at."""

from __future__ import annotations

import threading

NOT_CALLABLE = 42


def echo(input: dict, ctx: object) -> dict:  # the node interface's name
    return dict(input)


# What the runs in tests/test_workflow_runs.py did, in the order they did it (same process).
CALLS: list[tuple[str, str, int, int]] = []
"""(run id, node, iteration, attempt) per call."""
_ENDED = threading.Condition()


def wait_for_call(node_text: str, timeout: float = 10.0) -> bool:
    """Wait until a call whose node field contains ``node_text`` is recorded.

    A cancelled ``block`` records its end on a pool worker that nothing in the run joins:
    the run can be over, and the watcher done, before that worker has been scheduled.
    """
    with _ENDED:
        return _ENDED.wait_for(lambda: any(node_text in c[1] for c in CALLS), timeout)


def record(input: dict, ctx) -> dict:
    CALLS.append((ctx.run_id, ctx.node, ctx.iteration, ctx.attempt))
    return {"node": ctx.node, "iteration": ctx.iteration}


def count(input: dict, ctx) -> dict:
    """A loop body: its output ``count`` is the iteration + 1."""
    CALLS.append((ctx.run_id, ctx.node, ctx.iteration, ctx.attempt))
    return {"count": ctx.iteration + 1}


def flaky(input: dict, ctx) -> dict:
    """Fails on attempts before ``succeed_on`` (a parameter of the node)."""
    CALLS.append((ctx.run_id, ctx.node, ctx.iteration, ctx.attempt))
    if ctx.attempt < int(input["succeed_on"]):
        raise RuntimeError(f"flaky failure on attempt {ctx.attempt}")
    return {"attempt": ctx.attempt}


def big(input: dict, ctx) -> dict:
    """An output of ``size`` characters (a status too big for a server's message limit)."""
    return {"blob": "x" * int(input["size"])}


def fail(input: dict, ctx) -> dict:
    raise RuntimeError("the disk is full")


def block(input: dict, ctx) -> dict:
    """Runs until cancelled (records that it was), or 30 s."""
    CALLS.append((ctx.run_id, ctx.node, ctx.iteration, ctx.attempt))
    cancelled = ctx.cancelled.wait(30)
    with _ENDED:
        CALLS.append((ctx.run_id, f"{ctx.node}:cancelled={cancelled}", ctx.iteration, ctx.attempt))
        _ENDED.notify_all()
    return {}


def append_line(input: dict, ctx) -> dict:
    """Crash test: append this node's id to the file named by the run input ``log``."""
    with open(input["log"], "a") as f:
        f.write(f"{ctx.node}\n")
    ctx.cancelled.wait(float(input.get("pause", 0)))  # the node's own work takes a while
    return {"node": ctx.node}


def not_a_dict(input: dict, ctx) -> list:
    return [1, 2]
