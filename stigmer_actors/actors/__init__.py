"""The actors: one ExecutionActor per execution id, the watchers it feeds, the registry, the watchdog and dispatch."""
