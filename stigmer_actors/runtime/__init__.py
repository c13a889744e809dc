"""Our actor runtime on pykka's extension points: actors that cost no thread each.

``PooledActor`` (a ``pykka.Actor``) runs its turns on a shared, bounded ``Pool``, or in the
thread of a caller that asks it while it is idle; ``Reply`` is its future. Nothing here
knows about executions: the engine's actors build on it.
"""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
from stigmer_actors.runtime.actor import PooledActor, PooledRef, default_pool
from stigmer_actors.runtime.future import Reply
from stigmer_actors.runtime.pool import Pool

__all__ = ["Pool", "PooledActor", "PooledRef", "Reply", "default_pool"]
