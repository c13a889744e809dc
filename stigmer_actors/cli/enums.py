"""Enum values by name, as a person types them: ``IN_PROGRESS`` or ``EXECUTION_IN_PROGRESS``,
in any case, for ``--phase`` and for every enum inside ``--status`` JSON alike.

The wire's names carry their enum's prefix (``EXECUTION_``, ``WORKFLOW_TASK_``,
``TOOL_CALL_``); the CLI prints them whole, and people shorten them. Both forms name one
value, so both are accepted everywhere.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor


def short_names(enum: EnumDescriptor) -> dict[str, int]:
    """Each value's name without the prefix all the enum's names share (``IN_PROGRESS``)."""
    names = [v.name for v in enum.values]
    words = [name.split("_") for name in names]
    shared = 0  # leading words every name has, leaving each at least one of its own
    while len(names) > 1 and all(len(w) > shared + 1 and w[shared] == words[0][shared] for w in words):
        shared += 1
    prefix = "".join(f"{word}_" for word in words[0][:shared])
    return {name.removeprefix(prefix): enum.values_by_name[name].number for name in names}


def value_of(enum: EnumDescriptor, text: str) -> int:
    """The number ``text`` names in ``enum``: its full or short name, any case.

    Raises ValueError listing the short names when it names none.
    """
    wanted = text.strip().upper()
    by_name: dict[str, int] = {v.name: v.number for v in enum.values}
    short = short_names(enum)
    found = by_name.get(wanted, short.get(wanted))
    if found is None:
        raise ValueError(f"unknown value {text!r}; one of {', '.join(short)}")
    return found


def canonical(data: Any, message: Descriptor) -> Any:
    """``data`` (a message's proto3 JSON, parsed) with every enum name in the full form
    protobuf's JSON parser takes. Unknown fields and other values are left for that parser
    to judge; the contents of Struct, Value and other well-known types are not touched.

    Raises ValueError naming the field (``tasks[0].status: ...``) for an unknown enum name.
    """
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        field = message.fields_by_camelcase_name.get(key) or message.fields_by_name.get(key)
        out[key] = value if field is None else _field(field, value, str(key))
    return out


def _field(field: FieldDescriptor, value: Any, path: str) -> Any:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry and isinstance(value, dict):
        item = entry.fields_by_name["value"]
        return {k: _single(item, v, f"{path}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list):
        return [_single(field, v, f"{path}[{i}]") for i, v in enumerate(value)]
    return _single(field, value, path)


def _single(field: FieldDescriptor, value: Any, path: str) -> Any:
    if field.enum_type is not None and isinstance(value, str):
        try:
            return field.enum_type.values_by_number[value_of(field.enum_type, value)].name
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    nested = field.message_type
    if nested is not None and not nested.full_name.startswith("google.protobuf."):
        try:
            return canonical(value, nested)
        except ValueError as error:
            raise ValueError(f"{path}.{error}") from None
    return value
