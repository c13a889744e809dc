"""The workflow runner: definitions compiled to an immutable IR, run with actors (see
``../shared/WORKFLOWS.md``). So far: loading and compiling definitions."""
