"""Persistence: RocksDB records and the secondary indexes written atomically with them."""
