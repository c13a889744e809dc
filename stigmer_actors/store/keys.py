"""The key layout of the RocksDB store: one record key per execution, index keys beside it.

    r \\0 <id>                            -> <kind tag> <serialized execution>
    i \\0 <kind> \\0 all \\0 \\0 <id>          (every execution of a kind)
    i \\0 <kind> \\0 phase \\0 <phase> \\0 <id>
    i \\0 <kind> \\0 tag \\0 <tag> \\0 <id>
    i \\0 <kind> \\0 owner \\0 <session or workflow id> \\0 <id>
    w \\0 <workflow name> \\0 <version, 10 digits>  -> a workflow definition (JSON record)
    W \\0 <workflow name>                        -> its latest version (absent: deleted)

Index keys carry no value: their presence is the fact. Ids, tags and owner ids are checked
printable before they get here, so NUL can't occur inside a part and the layout can't be
forged. Keys under one prefix sort by id, and ids sort by creation time (``domain/ids.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stigmer_actors.domain.kinds import Kind

if TYPE_CHECKING:
    from stigmer_actors.store.base import Terms

SEP = "\x00"


def record_key(execution_id: str) -> bytes:
    return f"r{SEP}{execution_id}".encode()


def index_prefix(kind: Kind, field: str, value: str = "") -> bytes:
    """The prefix under which every id indexed as ``field = value`` is listed."""
    return f"i{SEP}{kind.tag}{SEP}{field}{SEP}{value}{SEP}".encode()


def phase_value(phase: int) -> str:
    return f"{phase:02d}"


def index_keys(kind: Kind, execution_id: str, terms: Terms) -> frozenset[bytes]:
    """All index keys an execution with ``terms`` has. Derived, so the store can diff the
    old and new sets and write the difference in the record's own batch: indexes and
    records can never disagree."""
    eid = execution_id.encode()
    prefixes = [index_prefix(kind, "all"), index_prefix(kind, "phase", phase_value(terms.phase))]
    prefixes += [index_prefix(kind, "tag", t) for t in terms.tags]
    prefixes += [index_prefix(kind, "owner", o) for o in terms.owners]
    return frozenset(p + eid for p in prefixes)


def id_of_index_key(key: bytes) -> str:
    """The execution id at the end of an index key."""
    return key.rsplit(SEP.encode(), 1)[1].decode()


def definition_key(name: str, version: int) -> bytes:
    return f"w{SEP}{name}{SEP}{version:010d}".encode()


def definition_prefix(name: str) -> bytes:
    return f"w{SEP}{name}{SEP}".encode()


def latest_definition_key(name: str = "") -> bytes:
    """The latest-version pointer of ``name``; with no name, the prefix of all of them."""
    return f"W{SEP}{name}".encode()
