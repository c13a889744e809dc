"""Persistence: RocksDB records and the secondary indexes written atomically with them."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
