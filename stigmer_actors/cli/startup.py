"""Why ``serve`` (or ``runner``) could not start: one line saying what is wrong and what to
do, and an exit code per sort of problem, so a supervisor can tell them apart.

    0  stopped cleanly            4  the store is damaged
    2  bad command line           5  the data directory cannot be written
    3  data directory in use      6  cannot listen on the address
                                  7  the store could not be opened for another reason
                                  8  --http-address without the web extra installed
"""

from __future__ import annotations

import argparse
import os
import resource

from loguru import logger

from stigmer_actors.store.open_errors import OpenProblem, StoreOpenError, command_line

EXIT_IN_USE = 3
EXIT_DAMAGED = 4
EXIT_NOT_WRITABLE = 5
EXIT_CANNOT_LISTEN = 6
EXIT_STORE_OTHER = 7
EXIT_NO_DASHBOARD = 8

_CODES = {
    OpenProblem.IN_USE: EXIT_IN_USE,
    OpenProblem.DAMAGED: EXIT_DAMAGED,
    OpenProblem.NOT_WRITABLE: EXIT_NOT_WRITABLE,
    OpenProblem.OTHER: EXIT_STORE_OTHER,
}


def store_refusal(error: StoreOpenError) -> tuple[str, int]:
    """The line to print and the exit code for a store that would not open."""
    path, detail = error.path, error.detail
    if error.problem is OpenProblem.IN_USE:
        if error.holder == os.getpid():
            holder = "this process"
        elif error.holder is not None:
            what = command_line(error.holder)
            holder = f"process {error.holder}" + (f" ({what})" if what else "")
        else:
            holder = "another process"
        line = (f"data directory {path} is in use by {holder}: stop it, or give this one "
                "another --data-dir")
    elif error.problem is OpenProblem.DAMAGED:
        line = (f"the store in {path} is damaged ({detail}): restore the directory from a "
                "backup, or move it aside to start with an empty store")
    elif error.problem is OpenProblem.NOT_WRITABLE:
        line = (f"cannot write the data directory {path} ({detail}): fix its permissions or "
                "free space, or give another --data-dir")
    else:
        line = f"cannot open the store in {path} ({detail})"
    return line, _CODES[error.problem]


def report_store_refusal(error: StoreOpenError) -> int:
    line, code = store_refusal(error)
    logger.error(line)
    return code


def bounded(kind: type, low: float, high: float, unit: str = "", above: bool = False):  # noqa: ANN201
    """An argparse ``type`` taking ``kind`` values from ``low`` (or, with ``above``, more
    than ``low``) to ``high``; argparse turns a refusal into one usage line and exit 2."""
    lo, hi = _number(low), _number(high)
    span = f"more than {lo} and at most {hi}" if above else f"from {lo} to {hi}"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not ((value > low if above else value >= low) and value <= high):  # NaN fails too
            raise argparse.ArgumentTypeError(f"{text} is out of bounds: it must be {span}{unit}")
        return value

    return parse


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def raise_open_file_limit() -> int:
    """Raise this process's soft open-file limit to its hard limit; the soft limit after.

    Every connection and every store file is a descriptor; the common soft default (1,024)
    is far below what the hard limit allows a process to take for itself.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            logger.debug("open-file limit raised from {soft} to {target}", soft=soft, target=target)
            return target
        except (ValueError, OSError) as error:
            logger.debug("open-file limit stays {soft}: {error}", soft=soft, error=error)
    return soft
