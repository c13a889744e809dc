"""Log setup for the programs this package ships (the library itself stays silent).

One line per event on stderr, with the structured fields (execution id, phase, counts)
appended as key=value, so logs grep well and stay quiet at INFO.

Importing this module turns the package's logs off, as loguru advises for libraries, until
a program enables them (``configure`` here, or ``logger.enable("stigmer_actors")``). The
packages that log (actors, runtime, store, runner, grpc_edge) import it first thing; the package's top
level does not, so the client, which never logs, does not load loguru.
"""

from __future__ import annotations

import sys

from loguru import logger

logger.disable("stigmer_actors")


def _format(record: dict) -> str:
    # Values go in through the record, never into the template: an id containing "{" must
    # not be read as a format field.
    fields = {k: v for k, v in record["extra"].items() if k != "_kv"}
    record["extra"]["_kv"] = " | " + " ".join(f"{k}={v}" for k, v in fields.items()) if fields else ""
    return "{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}{extra[_kv]}\n{exception}"


def configure(level: str = "INFO") -> None:
    logger.remove()
    logger.add(sys.stderr, level=level.upper(), format=_format, backtrace=False, diagnose=False)
    logger.enable("stigmer_actors")


def debugging() -> bool:
    """Whether any sink takes DEBUG records: a guard for DEBUG lines on the hot path.

    A disabled ``logger.debug`` still costs ~3 us with its fields (a tenth of an update);
    this reads the lowest level any handler takes, which loguru keeps for the same check
    (``_core.min_level``; private, hence the fallback).
    """
    try:
        return logger._core.min_level <= _DEBUG  # type: ignore[attr-defined]
    except AttributeError:
        return True


_DEBUG = 10
