"""Log setup for the programs this package ships (the library itself stays silent).

One line per event on stderr, quiet at INFO. ``text``: the message with the structured
fields (execution id, phase, counts) appended as key=value, so logs grep well. ``json``:
one JSON object per line for a log collector, each key once: ``time``, ``level``,
``logger``, ``message``, then every structured field, and ``exception`` when there is one.

Importing this module turns the package's logs off, as loguru advises for libraries, until
a program enables them (``configure`` here, or ``logger.enable("stigmer_actors")``). The
packages that log (actors, runtime, store, runner, grpc_edge) import it first thing; the package's top
level does not, so the client, which never logs, does not load loguru.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from typing import Any

from loguru import logger

logger.disable("stigmer_actors")


LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")
"""loguru's levels, the choices of ``--log-level``."""
FORMATS = ("text", "json")
_OUT = "_out"
"""The extra key a formatter leaves its rendered line under (never a field of its own)."""
_JSON_KEYS = ("time", "level", "logger", "message", "exception")


def add_options(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format``, for the programs that log (serve, runner)."""
    parser.add_argument("--log-level", type=str.upper, choices=LEVELS, default="INFO", metavar="LEVEL",
                        help=f"the least severe level logged: {', '.join(LEVELS)} (any case)")
    parser.add_argument("--log-format", choices=FORMATS, default="text",
                        help="text: a line per event with key=value fields; json: a JSON object per line")


def _fields(record: Any) -> dict[str, Any]:
    return {k: v for k, v in record["extra"].items() if k != _OUT}


def _text(record: Any) -> str:
    # Values go in through the record, never into the template: an id containing "{" must
    # not be read as a format field.
    fields = _fields(record)
    record["extra"][_OUT] = " | " + " ".join(f"{k}={v}" for k, v in fields.items()) if fields else ""
    return "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}{extra[" + _OUT + "]}\n{exception}"


def _json(record: Any) -> str:
    entry: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
    }
    for key, value in _fields(record).items():
        entry[f"field_{key}" if key in _JSON_KEYS else key] = value  # a field never hides these
    if record["exception"] is not None:
        kind, error, trace = record["exception"]
        entry["exception"] = "".join(traceback.format_exception(kind, error, trace)).rstrip()
    record["extra"][_OUT] = json.dumps(entry, default=str, ensure_ascii=False)
    return "{extra[" + _OUT + "]}\n"


def configure(level: str = "INFO", form: str = "text") -> None:
    """Send the package's logs to stderr at ``level`` and up, as ``form`` (``FORMATS``)."""
    if form not in FORMATS:
        raise ValueError(f"log format {form!r}: one of {', '.join(FORMATS)}")
    logger.remove()
    logger.add(sys.stderr, level=level.upper(), format=_json if form == "json" else _text,
               backtrace=False, diagnose=False)
    logger.enable("stigmer_actors")


def debugging() -> bool:
    """Whether any sink takes DEBUG records: a guard for DEBUG lines on the hot path.

    A disabled ``logger.debug`` still costs ~3 us with its fields (a tenth of an update);
    this reads the lowest level any handler takes, which loguru keeps for the same check
    (``_core.min_level``; private, hence the fallback).
    """
    try:
        core = logger._core  # type: ignore[attr-defined]
        lowest: int = core.min_level
        if lowest > _DEBUG:
            return False
        # Disabled for this package (the default when embedded: ``logger.disable`` above),
        # a DEBUG line is dropped however low the sinks go. loguru keeps the most specific
        # rule first.
        rules: list[tuple[str, bool]] = core.activation_list
        return next((state for name, state in rules if _PACKAGE.startswith(name)), True)
    except AttributeError:
        return True


_DEBUG = 10
_PACKAGE = "stigmer_actors."
