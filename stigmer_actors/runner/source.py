"""Reading a workflow file: YAML (a superset of JSON, so JSON files load too) to a dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class DefinitionError(ValueError):
    """The file is not a workflow definition at all (unreadable, not a mapping)."""


def load(source: str | Path) -> dict[str, Any]:
    """Parse a definition from a path or from its text."""
    text = Path(source).read_text() if isinstance(source, Path) else source
    try:
        # The pure-Python loader on purpose: libyaml's (3.5x faster) recurses in C without a
        # limit, and text nested ~60,000 deep crashed the daemon with SIGSEGV in a test.
        # This one stops at Python's recursion limit; runners compile a version once.
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(f"not valid YAML or JSON: {error}") from None
    except RecursionError:
        raise DefinitionError("not a workflow definition: nested too deeply") from None
    if not isinstance(data, dict):
        raise DefinitionError("a workflow definition is a mapping with name, nodes and edges")
    return data
