"""Parse request bytes ourselves, so malformed input gets INVALID_ARGUMENT, not INTERNAL.

grpcio turns a failing request deserializer into a bare INTERNAL; parsing in the handler
lets garbage and bad UTF-8 get a precise status. upb's error for bad UTF-8 names no field,
so on that error the bytes are walked once more, guided by the descriptor, to name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from stigmer_actors.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from stigmer_actors.domain.validation import AnyDescriptor


def parse(request_cls: type[Message], data: bytes) -> Message:
    try:
        return request_cls.FromString(data)
    except DecodeError as error:
        name = request_cls.DESCRIPTOR.name
        if "UTF-8" in str(error):
            field = _bad_utf8_field(request_cls.DESCRIPTOR, data) or "a string field"
            raise InvalidArgument(f"{field} is not valid UTF-8") from None
        raise InvalidArgument(f"the request is not a valid {name} message") from None


def _bad_utf8_field(descriptor: AnyDescriptor, data: bytes, path: str = "") -> str | None:
    """The path of the first string field whose bytes are not UTF-8, or None."""
    pos = 0
    try:
        while pos < len(data):
            tag, pos = _varint(data, pos)
            number, wire_type = tag >> 3, tag & 7
            if wire_type == 0:
                _, pos = _varint(data, pos)
            elif wire_type == 1:
                pos += 8
            elif wire_type == 5:
                pos += 4
            elif wire_type == 2:
                length, pos = _varint(data, pos)
                chunk, pos = data[pos:pos + length], pos + length
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                name = f"{path}.{field.name}" if path else field.name
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return name
                elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                    found = _bad_utf8_field(field.message_type, chunk, name)
                    if found:
                        return found
            else:
                return None
    except IndexError:
        return None
    return None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
