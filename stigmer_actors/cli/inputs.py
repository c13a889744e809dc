"""What a user hands a command besides flags: a file to read, a status as JSON (``--status``,
``-`` for stdin). Each problem is a ``UsageError`` naming the input, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from google.protobuf import json_format

from stigmer_actors import wire
from stigmer_actors.cli import enums
from stigmer_actors.cli.boundary import UsageError
from stigmer_actors.domain.kinds import Kind


def read_file(path: Path) -> str:
    """The text of ``path`` (UTF-8)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"cannot read {path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def read_status(text: str, kind: Kind) -> wire.ExecutionStatus:
    """``--status``: the status fields to merge, as proto3 JSON (``-``: read from stdin).

    Enum values may be named in either form (``IN_PROGRESS`` or ``EXECUTION_IN_PROGRESS``,
    any case, see ``cli/enums.py``).
    """
    source = sys.stdin.read() if text == "-" else text
    status = kind.status_cls()
    name = status.DESCRIPTOR.name
    try:
        data = json.loads(source)
    except json.JSONDecodeError as error:
        raise UsageError(f"--status is not a valid {name}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise UsageError(f'--status is not a valid {name}: give a JSON object, e.g. {{"phase": "IN_PROGRESS"}}')
    try:
        json_format.ParseDict(enums.canonical(data, status.DESCRIPTOR), status)
    except (json_format.ParseError, ValueError) as error:
        raise UsageError(f"--status is not a valid {name}: {error}") from None
    return status
