"""The roles an API key can have, each including the ones below it.

viewer  reads: get, list, subscribe, watchExecutions, stats, runners, definitions (get, list),
        reflection
runner  viewer + what a runner does: create, updateStatus, claim
admin   everything: update and delete executions, apply and delete definitions

``runner`` may create because runners do: a workflow's ``agent`` node creates an
AgentExecution, and upstream's runners create the executions they report on. What a
runner cannot do is rewrite (update) or erase (delete) the record, nor change what code
the daemon's runner executes (definitions).
"""

from __future__ import annotations

import enum


class Role(enum.IntEnum):
    VIEWER = 1
    RUNNER = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    def allows(self, needed: Role) -> bool:
        return self >= needed

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text`` (viewer, runner, admin); ValueError naming the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: one of {', '.join(NAMES)}") from None


NAMES = tuple(role.label for role in Role)
