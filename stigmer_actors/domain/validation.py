"""Input checks that need no state: ids and the per-kind create/update rules.

Every message names the offending field, since that message reaches the client verbatim.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from stigmer_actors.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from google._upb._message import Descriptor as UpbDescriptor

    AnyDescriptor: TypeAlias = Descriptor | UpbDescriptor
    """What ``Message.DESCRIPTOR`` is: the C (upb) backend's class, or the pure-Python one."""

MAX_ID_LENGTH = 256
MAX_STRUCT_DEPTH = 32
"""How deep google.protobuf.Struct values may nest (a Struct in a list in a Struct is 3)."""

_STRUCTS = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})


def check_id(value: str, field: str) -> str:
    """Reject ids that are empty, longer than 256 characters or not printable.

    Ids become RocksDB key parts joined by NUL, so a NUL or any other control character in
    one could forge another record's key; printable text can't.
    """
    if not value:
        raise InvalidArgument(f"{field} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{field} is {len(value)} characters long (at most {MAX_ID_LENGTH})")
    if not value.isprintable():
        raise InvalidArgument(f"{field} contains characters that are not printable")
    return value


def check_optional_id(value: str, field: str) -> None:
    """Like ``check_id`` but an empty value is fine (an optional reference)."""
    if value:
        check_id(value, field)


def check_tags(tags: Sequence[str], field: str) -> None:
    """Tags are index key parts too: same rule as ids."""
    for i, tag in enumerate(tags):
        check_id(tag, f"{field}[{i}]")


def check_message(message: Message, path: str = "") -> None:
    """Reject undefined enum values and over-deep Structs anywhere in ``message``.

    proto3 keeps enum numbers it does not know, so a client can send phase 42; and a Struct
    can nest as deep as the parser allows (built in Python, deeper than the parser then
    reads back from the store). Each error names the field by its path, such as
    ``status.tasks[2].status``. It runs on every update, whose status is sent whole (a
    1,000-task workflow status is ~170 KB), so it visits only the fields that can hold an
    enum or a Struct (a plan per message type), builds a path only on failure, and walks a
    Struct only when it is big enough to be too deep (``_DEEP_ENOUGH``).
    """
    try:
        _check(message)
    except _Bad as bad:
        where = path + "".join(reversed(bad.where))
        raise InvalidArgument(where.removeprefix(".") + bad.what) from None


class _Bad(Exception):
    """A failed check on its way up: each level adds its part of the path (``.tasks[2]``),
    so no path string is built while everything is fine."""

    def __init__(self, what: str, where: str = "") -> None:
        self.what = what
        self.where = [where] if where else []


def _check(message: Message) -> None:
    for field, kind, extra in _plan(message.DESCRIPTOR):
        if kind is _ENUM:
            value = getattr(message, field)
            if value not in extra:
                raise _Bad(f" = {value} is not a defined {extra.name} value", f".{field}")
        elif kind is _ENUMS:
            for i, number in enumerate(getattr(message, field)):
                if number not in extra:
                    raise _Bad(f" = {number} is not a defined {extra.name} value", f".{field}[{i}]")
        elif kind is _ONE:
            if message.HasField(field):
                try:
                    _check_child(getattr(message, field), extra)
                except _Bad as bad:
                    bad.where.append(f".{field}")
                    raise
        else:
            children = getattr(message, field)
            position: object = None
            try:
                if kind is _MAP:
                    for position in children:
                        _check_child(children[position], extra)
                else:
                    for position, child in enumerate(children):
                        _check_child(child, extra)
            except _Bad as bad:
                bad.where.append(f".{field}[{position if kind is _MANY else repr(position)}]")
                raise


def _check_child(child: Message, is_struct: bool) -> None:
    if not is_struct:
        _check(child)
    elif child.ByteSize() >= _DEEP_ENOUGH:
        _check_depth(child, 1)


_DEEP_ENOUGH = 3 * MAX_STRUCT_DEPTH
"""A size under which a Struct/Value/ListValue cannot nest deeper than MAX_STRUCT_DEPTH:
each level costs at least a tag and a length for the Value's ``list_value`` and for the
ListValue's ``values`` (4 bytes; ``struct_value`` levels cost more), the innermost at least
2; the smallest too-deep Value is 126 bytes. 3 per level leaves a margin. Below it, no walk."""


def _check_depth(value: Any, depth: int) -> None:
    """``value`` is a Struct, Value or ListValue (``Any``: told apart by descriptor name,
    since their classes are our pool's, not ``struct_pb2``'s)."""
    if depth > MAX_STRUCT_DEPTH:
        raise _Bad(f" nests Struct values deeper than {MAX_STRUCT_DEPTH} levels")
    kind = value.DESCRIPTOR.name
    if kind == "Struct":
        fields = value.fields
        for key in fields:  # not .values(): the Mapping mixin's iterator costs 2.5x as much
            _check_depth(fields[key], depth)
    elif kind == "ListValue":
        for inner in value.values:
            _check_depth(inner, depth)
    elif value.WhichOneof("kind") == "struct_value":
        _check_depth(value.struct_value, depth + 1)
    elif value.WhichOneof("kind") == "list_value":
        _check_depth(value.list_value, depth + 1)


_WALK: dict[str, bool] = {}
_ENUM, _ENUMS, _MAP, _MANY, _ONE = "enum", "enums", "map", "many", "one"
_PLANS: dict[AnyDescriptor, tuple[tuple[str, str, Any], ...]] = {}


class _Numbers(frozenset[int]):
    """An enum's defined numbers, carrying its name for the error message."""

    name: str


def _plan(descriptor: AnyDescriptor) -> tuple[tuple[str, str, Any], ...]:
    """What to visit in a message type: (field name, kind, extra) for each field that can hold
    an enum or a Struct, memoized per type. ``extra`` is the enum's numbers for enum fields,
    else whether the field's message type is a Struct/Value/ListValue. Map fields whose
    values are not messages are left out (no map here holds enums)."""
    plan = _PLANS.get(descriptor)
    if plan is None:
        steps: list[tuple[str, str, Any]] = []
        for f in descriptor.fields:
            if f.enum_type is not None:
                numbers = _Numbers(f.enum_type.values_by_number)
                numbers.name = f.enum_type.name
                steps.append((f.name, _ENUMS if f.is_repeated else _ENUM, numbers))
            elif f.message_type is not None and f.message_type.GetOptions().map_entry:
                value = f.message_type.fields_by_name["value"].message_type
                if value is not None and _worth_walking(value):
                    steps.append((f.name, _MAP, value.full_name in _STRUCTS))
            elif f.message_type is not None and _worth_walking(f.message_type):
                steps.append((f.name, _MANY if f.is_repeated else _ONE, f.message_type.full_name in _STRUCTS))
        plan = _PLANS[descriptor] = tuple(steps)
    return plan


def _worth_walking(descriptor: AnyDescriptor) -> bool:
    """Whether a message type can contain an enum or a Struct (memoized per type)."""
    name = descriptor.full_name
    if name not in _WALK:
        _WALK[name] = True  # provisional, for recursive types
        _WALK[name] = name in _STRUCTS or any(
            f.enum_type is not None or (f.message_type is not None and _worth_walking(f.message_type))
            for f in descriptor.fields
        )
    return _WALK[name]
