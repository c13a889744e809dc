"""The updateStatus merge, driven by one rule table per kind.

``../shared/API.md`` gives the rule for every status field; each kind writes its rules as a
table (``kinds.py``) and this module applies any table. A test checks that every field of
both status messages has a rule, so a field added to the proto cannot be merged by accident.
"""

from __future__ import annotations

import enum
import time

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp


class Rule(enum.Enum):
    """How an incoming status field combines with the stored one."""

    REPLACE_WHEN_SET = "replace when set"
    """Non-empty list/map/string/bytes, non-zero enum, or present message replaces; else keep."""

    SERVER_OWNED = "server owned"
    """The server writes it (audit, version); whatever the client sends is ignored."""


def merge_status(stored: Message, incoming: Message, rules: dict[str, Rule]) -> None:
    """Merge ``incoming`` into ``stored`` in place, field by field, as ``rules`` say.

    A field counts as set as REPLACE_WHEN_SET means it: a present message, a non-empty
    list, map, string or bytes, a non-zero number or enum. That is exactly what protobuf's
    ``ListFields`` lists, in C, so an update pays for the fields it sets, not for every
    field of the status.
    """
    for field, _ in incoming.ListFields():
        if rules[field.name] is Rule.SERVER_OWNED:
            continue
        if field.is_repeated or field.message_type is not None:
            stored.ClearField(field.name)
            getattr(stored, field.name).MergeFrom(getattr(incoming, field.name))
        else:
            setattr(stored, field.name, getattr(incoming, field.name))


def stamp(timestamp: Timestamp) -> None:
    """Set a ``google.protobuf.Timestamp`` to now (wall clock, as clients expect)."""
    timestamp.FromNanoseconds(time.time_ns())
