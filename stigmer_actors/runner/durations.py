"""Durations as workflow files write them: ``500ms``, ``0.3s``, ``10s``, ``2m``, ``1h``."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(\d{1,12}(?:\.\d{1,9})?)(ms|s|m|h)$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: object, at_most: float = math.inf) -> float:
    """Seconds; ValueError naming the accepted forms, or the bound, for anything else.

    ``at_most`` is the field's documented upper bound (``limits``): a duration beyond it is
    refused here, at apply, rather than handed to a timer that cannot hold it.
    """
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None or not isinstance(text, str):
        raise ValueError(f"{_quote(text)} is not a duration (write 500ms, 0.3s, 10s, 2m or 1h)")
    seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if seconds > at_most:
        raise ValueError(f"{text.strip()} is longer than {written(at_most)}, the most it may be")
    return seconds


def written(seconds: float) -> str:
    """``seconds`` the way a definition would write it (``24h``, ``90s``)."""
    for unit, size in (("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds * 1000:g}ms"


def _quote(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
