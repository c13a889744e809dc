"""Exit codes of the client commands, one per outcome a script may want to tell apart.

``serve`` and ``runner`` have their own start-up codes (``cli/startup.py``: 3 to 7); the
two sets meet only at 0 and 2, which mean the same in both. README, "Exit codes".
"""

from __future__ import annotations

OK = 0
FAILED = 1
"""``watch`` / ``run``: the execution ended FAILED."""
USAGE = 2
"""The command line or its input is wrong (argparse's own code for a bad flag), or this
install lacks what the command needs (the ``server`` extra)."""
CANCELLED = 3
"""``watch`` / ``run``: the execution ended CANCELLED."""
DELETED = 4
"""``watch`` / ``run``: the execution was deleted while watched."""
REFUSED = 10
"""The daemon answered with an error status (NOT_FOUND, INVALID_ARGUMENT, ...)."""
UNREACHABLE = 11
"""No daemon answers at ``--address`` (not running, wrong address, host down)."""
INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as a shell reports it)."""
OUTPUT_CLOSED = 141
"""Whoever read the output stopped reading (``| head``): 128 + SIGPIPE, as for a Unix tool
that the signal ends."""
