"""Durations as workflow files write them: ``500ms``, ``0.3s``, ``10s``, ``2m``."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: object) -> float:
    """Seconds; ValueError naming the accepted forms for anything else."""
    match = _DURATION.match(str(text).strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration (write 500ms, 0.3s, 10s, 2m or 1h)")
    return float(match.group(1)) * _SECONDS[match.group(2)]
