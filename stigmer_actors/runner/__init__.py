"""The workflow runner: definitions compiled to an immutable IR, run with actors (see
``../shared/WORKFLOWS.md``). So far: loading and compiling definitions."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
