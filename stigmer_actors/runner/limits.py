"""The bounds on what a workflow definition may ask for, in one place.

A definition comes from a caller: every size, count and duration in it is checked against
these at apply, so that no definition can make the daemon parse, compile or wait without
limit (README "Workflow definitions" lists them; the compiler's docstring names the rule
each is refused under). A run's expressions have their own budget (``EXPRESSION_STEPS``),
spent while they are evaluated.
"""

from __future__ import annotations

SOURCE_BYTES = 256 * 1024
"""A definition's text, UTF-8 (a 1,000-node chain of ``python`` nodes is ~110 KB). The
pure-Python YAML loader reads ~250 KB/s of ordinary YAML, ~65 KB/s of dense flow lists."""

VALUES = 50_000
EXPANDED_CHARS = 1024 * 1024
"""Values in the parsed document (every scalar, list and mapping) and characters of its
scalars, counting each alias as what it repeats: anchors and aliases may not turn a small
text into a huge one (a 260-byte "billion laughs" expands to millions of values)."""

DEPTH = 32
"""How deep lists and mappings may nest (the wire's Struct bound is 32 too: a node's ``with``
becomes its task's ``input``)."""

NODES = 2_000
EDGES = 4_000
LOOPS = 50
"""Loop nodes: each loop's body is worked out by a walk over the whole graph, per run."""

ID_CHARS = 64
"""A node id's length (it is part of every task id on the wire)."""

MAX_ATTEMPTS = 100
MAX_ITERATIONS = 1_000

NODE_TIMEOUT = 24 * 3600.0
WAIT_FOR = 24 * 3600.0
RETRY_BACKOFF = 3600.0
"""Seconds. (A run with no progress for the runner's inactivity timeout, 600 s by default,
fails anyway: a longer wait needs a longer inactivity timeout.)"""

EXPRESSION_CHARS = 1_000
EXPRESSIONS_CHARS = 32 * 1024
"""Characters of distinct CEL text in one definition, its ``{{ }}`` templates included:
celpy's parser is pure Python and superlinear in a long expression (~35 µs a character)."""
EXPRESSION_DEPTH = 150
"""Levels of an expression's syntax tree (``(x)`` adds about 10): the evaluator recurses once
per level, and Python's stack is finite."""

EXPRESSION_STEPS = 250_000
"""What the expressions of one node attempt (its templates, ``set``, ``items``/``keep``) or
of one node's routing (branch ``when``, loop ``until``) may spend: one step per syntax-tree
node evaluated plus one per element of every list, map or string they produce or read.
1.5 s of CPU on an idle core here, ~3 s on a loaded one; a node's ``timeout`` and the run's end stop it sooner."""

PROBLEMS_SHOWN = 10
"""Problems listed in a refusal (the count says how many there were): the message travels
in gRPC trailers (percent-encoded), refused by clients beyond 8-16 KiB."""

VALUE_CHARS = 60
PROBLEM_CHARS = 200
"""How much of an offending value a problem quotes, and how long one problem's line may be."""
