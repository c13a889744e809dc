"""The actors: one ExecutionActor per execution id, SubscriberActors it feeds, the registry."""
