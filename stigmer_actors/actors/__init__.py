"""The actors: one ExecutionActor per execution id, the watchers it feeds, the registry, the watchdog and dispatch."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
