"""Commands for an ExecutionActor. Every change to an execution is one of these.

``kind`` is the kind the caller expects: an execution of another kind under that id
answers NOT_FOUND (an agent client never sees a workflow). ``None`` accepts either, for
callers that only have an id (the embedded ``Engine.get``, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from google.protobuf.message import Message

from stigmer_actors.domain.kinds import Kind

if TYPE_CHECKING:
    from stigmer_actors.subscription import Watch


@dataclass(frozen=True, slots=True)
class Create:
    kind: Kind
    execution: Message
    """Already validated; the actor only checks that the id is free."""


@dataclass(frozen=True, slots=True)
class Update:
    kind: Kind
    execution: Message


@dataclass(frozen=True, slots=True)
class UpdateStatus:
    kind: Kind
    status: Message
    sent_at: float = 0.0
    """``time.perf_counter()`` when the caller sent it: the latency metric starts there."""


@dataclass(frozen=True, slots=True)
class Delete:
    kind: Kind | None


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Put the current state in ``watch`` and keep feeding it, in one actor step."""

    kind: Kind | None
    watch: Watch


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """The consumer closed its subscription: stop feeding it."""

    watch: Watch


@dataclass(frozen=True, slots=True)
class CatchUp:
    """The consumer took its snapshot and newer ones were held back: send the newest."""

    watch: Watch


@dataclass(frozen=True, slots=True)
class Expire:
    """From the watchdog: this execution's ``reason`` deadline passed; fail it if still due."""

    reason: str


@dataclass(frozen=True, slots=True)
class Refresh:
    """Another node changed this execution (its store is shared): version ``version`` (0: it
    was deleted; None: unknown, reload anyway) is stored now. Reload if behind, and tell the
    watchers. ``state``: the stored (kind tag, data) read with the news, if it was."""

    version: int | None
    state: tuple[str, bytes] | None = None


Command = Expire | Create | Update | UpdateStatus | Delete | Subscribe | Unsubscribe | CatchUp | Refresh

CHANGES = (Create, Update, UpdateStatus, Expire)
"""Commands that may change the execution: a run of them in one turn is one store write."""
