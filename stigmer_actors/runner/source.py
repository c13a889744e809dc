"""Reading a workflow file: YAML (a superset of JSON, so JSON files load too) to a dict.

A definition comes from a caller, so parsing it has a bounded cost: the text is at most
``limits.SOURCE_BYTES``, lists and mappings nest at most ``limits.DEPTH`` deep, and the
document holds at most ``limits.VALUES`` values and ``limits.EXPANDED_CHARS`` characters
of scalars with every alias counted as what it repeats (a 300-byte "billion laughs" would
otherwise expand to millions of values in every walk that follows: it took 20 s and ~1 GB;
an alias repeating a long string, gigabytes). An alias inside the value it refers to (a recursive
structure) is refused. Each refusal names its rule in brackets, like the compiler's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stigmer_actors.runner import limits


class DefinitionError(ValueError):
    """The file is not a workflow definition at all (unreadable, too big, not a mapping)."""


def load(source: str | Path) -> dict[str, Any]:
    """Parse a definition from a path or from its text."""
    text = Path(source).read_text() if isinstance(source, Path) else source
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.SOURCE_BYTES:
        raise DefinitionError(f"the text is {size:,} bytes, more than the limit of {limits.SOURCE_BYTES:,} [size]")
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # safe: _BoundedLoader is a SafeLoader (below)
    except _Refused as refusal:
        raise DefinitionError(str(refusal)) from None
    except yaml.YAMLError as error:
        raise DefinitionError(f"not valid YAML or JSON: {error} [yaml]") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise DefinitionError(f"not valid YAML or JSON: {error} [yaml]") from None
    except RecursionError:  # not reached within DEPTH; kept as the last line of defence
        raise DefinitionError("not a workflow definition: nested too deeply [depth]") from None
    if not isinstance(data, dict):
        raise DefinitionError("a workflow definition is a mapping with name, nodes and edges [definition]")
    return data


class _Refused(Exception):
    """A bound of the document was crossed while composing it."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing under the bounds of ``limits``.

    The pure-Python loader on purpose: libyaml's (3.5x faster) recurses in C without a
    limit, and text nested ~60,000 deep crashed the daemon with SIGSEGV in a test. Aliases
    cost nothing to compose (the composer shares the anchored node), which is why they are
    counted here, before anything walks the expanded document.
    """

    if TYPE_CHECKING:  # types-PyYAML leaves this parser method untyped
        def peek_event(self) -> Any: ...  # an event: anchor, start_mark.line (NodeEvent)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._values = 0
        self._chars = 0
        self._depth = 0
        self._sizes: dict[int, tuple[int, int]] = {}
        """id(anchored node) -> its expanded (values, characters), once it is composed."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and id(anchored) not in self._sizes:
                raise _Refused(f"alias *{_short(event.anchor)} (line {event.start_mark.line + 1}) is inside "
                               f"the value it refers to: a recursive structure [aliases]")
            node = super().compose_node(parent, index)  # an undefined alias is a ComposerError
            self._count(*self._sizes[id(node)])
            return node
        anchor = self.peek_event().anchor
        self._depth += 1
        if self._depth > limits.DEPTH:
            line = self.peek_event().start_mark.line + 1
            raise _Refused(f"nested more than {limits.DEPTH} levels deep (line {line}) [depth]")
        before = (self._values, self._chars)
        node = super().compose_node(parent, index)
        self._count(1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        self._depth -= 1
        if anchor is not None:
            self._sizes[id(node)] = (self._values - before[0], self._chars - before[1])
        return node

    def _count(self, values: int, chars: int) -> None:
        self._values += values
        self._chars += chars
        if self._values > limits.VALUES:
            raise _Refused(f"more than {limits.VALUES:,} values, counting each alias as what it "
                           f"repeats [values]")
        if self._chars > limits.EXPANDED_CHARS:
            raise _Refused(f"more than {limits.EXPANDED_CHARS:,} characters of values, counting each "
                           f"alias as what it repeats [values]")


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
