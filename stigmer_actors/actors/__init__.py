"""The actors: one ExecutionActor per execution id, SubscriberActors it feeds, the registry."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
