"""Input checks that need no state: ids and the per-kind create/update rules.

Every message names the offending field, since that message reaches the client verbatim.
"""

from __future__ import annotations

from stigmer_actors.domain.errors import InvalidArgument

MAX_ID_LENGTH = 256


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
