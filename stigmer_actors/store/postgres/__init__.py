"""PostgreSQL: the store every node of a cluster shares (``store.py``), its schema
(``schema.py``) and the SQL the nodes coordinate with (``coordination.py``)."""
