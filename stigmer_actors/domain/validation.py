"""Input checks that need no state: ids and the per-kind create/update rules.

Every message names the offending field, since that message reaches the client verbatim.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from stigmer_actors.domain.errors import InvalidArgument

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


def check_tags(tags: list[str] | tuple[str, ...], field: str) -> None:
    """Tags are index key parts too: same rule as ids."""
    for i, tag in enumerate(tags):
        check_id(tag, f"{field}[{i}]")


def check_message(message: Message, path: str = "") -> None:
    """Reject undefined enum values and over-deep Structs anywhere in ``message``.

    proto3 keeps enum numbers it does not know, so a client can send phase 42; and a Struct
    can nest as deep as the parser allows. Each error names the field by its path, such as
    ``status.tasks[2].status``. Only set fields are visited, and only message types that
    can contain an enum or a Struct at all.
    """
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        if field.enum_type is not None:
            for i, number in _items(field, value):
                if number not in field.enum_type.values_by_number:
                    raise InvalidArgument(
                        f"{name}{i} = {number} is not a defined {field.enum_type.name} value"
                    )
        elif field.message_type is not None and _worth_walking(field.message_type):
            entry = field.message_type.GetOptions().map_entry
            if entry:
                value_field = field.message_type.fields_by_name["value"]
                if value_field.message_type is None:
                    continue
                children = ((f"[{k!r}]", v) for k, v in value.items())
            else:
                children = _items(field, value)
            for i, child in children:
                if child.DESCRIPTOR.full_name in _STRUCTS:
                    _check_depth(child, f"{name}{i}", 1)
                else:
                    check_message(child, f"{name}{i}")


def _items(field: FieldDescriptor, value: object):  # noqa: ANN202
    if field.is_repeated:
        return ((f"[{i}]", v) for i, v in enumerate(value))  # type: ignore[arg-type]
    return (("", value),)


def _check_depth(value: Message, path: str, depth: int) -> None:
    if depth > MAX_STRUCT_DEPTH:
        raise InvalidArgument(f"{path} nests Struct values deeper than {MAX_STRUCT_DEPTH} levels")
    kind = value.DESCRIPTOR.name
    if kind == "Struct":
        for inner in value.fields.values():
            _check_depth(inner, path, depth)
    elif kind == "ListValue":
        for inner in value.values:
            _check_depth(inner, path, depth)
    elif value.WhichOneof("kind") == "struct_value":
        _check_depth(value.struct_value, path, depth + 1)
    elif value.WhichOneof("kind") == "list_value":
        _check_depth(value.list_value, path, depth + 1)


_WALK: dict[str, bool] = {}


def _worth_walking(descriptor: Descriptor) -> bool:
    """Whether a message type can contain an enum or a Struct (memoized per type)."""
    name = descriptor.full_name
    if name not in _WALK:
        _WALK[name] = True  # provisional, for recursive types
        _WALK[name] = name in _STRUCTS or any(
            f.enum_type is not None or (f.message_type is not None and _worth_walking(f.message_type))
            for f in descriptor.fields
        )
    return _WALK[name]
