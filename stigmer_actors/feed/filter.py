"""Which executions a list-watch is about: every filter given must match.

``kinds`` and ``phases`` are judged on a snapshot alone (the dispatcher applies them before
anything is parsed); ``session_id``, ``workflow_id`` and ``tags`` need the execution
message, parsed once per event in the consumer's thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.kinds import AGENT, WORKFLOW, Kind
from stigmer_actors.domain.validation import check_optional_id, check_tags
from stigmer_actors.messages.snapshot import Snapshot

if TYPE_CHECKING:
    from stigmer_actors.wire import Execution

MAX_FILTER_TAGS = 32
"""Most tags one filter may name."""


@dataclass(frozen=True)
class ExecutionFilter:
    kinds: frozenset[Kind] = frozenset(kinds.KINDS)
    phases: frozenset[int] = frozenset()
    """Any of these phases; empty: every phase."""
    session_id: str = ""
    """Agent executions of this session (workflow executions have none)."""
    workflow_id: str = ""
    """Workflow executions of this workflow or workflow instance (agents have none)."""
    tags: tuple[str, ...] = ()
    """Executions carrying all of them."""

    @classmethod
    def of(cls, kind: Kind | str | None = None, phases_: Iterable[int] = (), session_id: str = "",
           workflow_id: str = "", tags: Iterable[str] = ()) -> ExecutionFilter:
        """A checked filter; INVALID_ARGUMENT naming the bad part."""
        if isinstance(kind, str):
            if kind not in kinds.BY_NAME:
                raise InvalidArgument(f"kind {kind!r} is not one of: {', '.join(kinds.BY_NAME)}")
            kind = kinds.BY_NAME[kind]
        wanted = frozenset(phases_)
        for phase in wanted:
            if phase not in phases.NAMES or phase == phases.UNSPECIFIED:
                raise InvalidArgument(f"filter.phases: {phase} is not an ExecutionPhase value (1 to 5)")
        tags = tuple(dict.fromkeys(tags))
        if len(tags) > MAX_FILTER_TAGS:
            raise InvalidArgument(f"filter.tags names {len(tags)} tags (at most {MAX_FILTER_TAGS})")
        check_tags(tags, "filter.tags")
        check_optional_id(session_id, "filter.session_id")
        check_optional_id(workflow_id, "filter.workflow_id")
        chosen = frozenset({kind}) if kind is not None else frozenset(kinds.KINDS)
        if session_id:
            chosen &= {AGENT}
        if workflow_id:
            chosen &= {WORKFLOW}
        return cls(chosen, wanted, session_id, workflow_id, tags)

    @property
    def needs_message(self) -> bool:
        return bool(self.session_id or self.workflow_id or self.tags)

    def may_match(self, snapshot: Snapshot) -> bool:
        """Kind and phase only: False means it cannot match, whatever the rest."""
        return snapshot.kind in self.kinds and (not self.phases or snapshot.phase in self.phases)

    def matches(self, snapshot: Snapshot, message: Execution | None) -> bool:
        """The whole filter; ``message`` is ``snapshot.message()`` when ``needs_message``."""
        if not self.may_match(snapshot):
            return False
        if not self.needs_message:
            return True
        assert message is not None
        owner = self.session_id or self.workflow_id
        if owner and owner not in snapshot.kind.owner_terms(message):
            return False
        if self.tags:
            have = set(message.metadata.tags)
            return all(tag in have for tag in self.tags)
        return True
