"""The ``stigmer-actors`` command: one module per command group."""
