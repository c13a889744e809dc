"""Which store an engine opens: RocksDB in a data directory, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path

from stigmer_actors.store.base import Store

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def open_store(data_dir: str | Path | None, store: str | Store | None, durability: str) -> Store:
    """RocksDB in ``data_dir`` unless ``store`` names a PostgreSQL URL (or is a Store)."""
    if store is None:
        if data_dir is None:
            raise ValueError("give a data directory (RocksDB) or a postgres:// store URL")
        from stigmer_actors.store.rocks import RocksStore

        return RocksStore(data_dir, durability)  # type: ignore[arg-type]
    if not isinstance(store, str):
        return store
    if not store.startswith(POSTGRES_SCHEMES):
        raise ValueError(f"the store must be a postgres:// or postgresql:// URL, not {store.split(':', 1)[0]!r}")
    if data_dir is not None:
        raise ValueError("give a data directory or a store URL, not both")
    try:
        from stigmer_actors.store.postgres.store import PostgresStore
    except ImportError as error:
        raise ValueError(f"a PostgreSQL store needs the postgres extra ({error.name} is missing): "
                         "pip install 'stigmer-actors[postgres]'") from None
    return PostgresStore(store)
