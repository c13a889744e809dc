"""The registry of workflow definitions, stored in the engine's RocksDB.

``apply`` compiles a definition's source and stores it as a new version of its name, or
returns the current version untouched when the compiled IR is the same (same ``ir_hash``),
so applying a file twice is harmless. Versions are never rewritten: an execution records
the version it started with and keeps running it after a newer one is applied.
``delete`` removes the name from ``get``/``list`` (its versions stay, for runs that still
use them; a later ``apply`` continues the numbering).

Applies of one name are serialized by a lock: version numbers come from read-then-write.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from stigmer_actors.domain.clock import now_iso
from stigmer_actors.domain.errors import InvalidArgument, NotFound
from stigmer_actors.domain.validation import check_id
from stigmer_actors.runner import ir
from stigmer_actors.runner.compiler import WorkflowInvalid, compile_workflow
from stigmer_actors.runner.policy import PythonModules
from stigmer_actors.runner.source import DefinitionError, load
from stigmer_actors.store.base import Store
from stigmer_actors.store.keys import (
    SEP,
    definition_key,
    definition_prefix,
    latest_definition_key,
)

KEPT_COMPILED = 64


@dataclass(frozen=True, slots=True)
class Definition:
    name: str
    version: int
    ir_hash: str
    source: str
    applied_at: str


class DefinitionRegistry:
    def __init__(self, store: Store, on_apply: Callable[[], object] = lambda: None,
                 python: PythonModules = PythonModules()) -> None:
        self._store = store
        self._python = python
        """The modules ``python`` nodes may name (checked by name: apply imports nothing)."""
        self._on_apply = on_apply
        """Called after a new version is stored (the dispatcher may now hand out more runs)."""
        self._lock = threading.Lock()
        self._compiled: dict[tuple[str, int], ir.Workflow] = {}
        """The last KEPT_COMPILED versions compiled (applied or asked for), oldest dropped first:
        every apply of a new version adds one, and a caller may apply without end."""

    def apply(self, source: str) -> tuple[Definition, bool]:
        """Store ``source`` as the next version of its workflow; (definition, changed).

        INVALID_ARGUMENT, listing every problem, if it does not compile.
        """
        workflow = _compile(source, self._python)
        check_id(workflow.name, "name")
        # Versions come from read-then-write: one apply of a name at a time, on every node.
        with self._lock, self._store.exclusive(f"workflow definition {workflow.name}"):
            latest = self._latest_version(workflow.name)
            if latest:
                current = self.get(workflow.name, latest)
                if current.ir_hash == workflow.ir_hash:
                    return current, False
            top = max(latest, self._highest_version(workflow.name))
            applied = Definition(workflow.name, top + 1, workflow.ir_hash, source, now_iso())
            self._store.write({
                definition_key(applied.name, applied.version): json.dumps(asdict(applied)).encode(),
                latest_definition_key(applied.name): str(applied.version).encode(),
            })
            self._keep((applied.name, applied.version), workflow)
        self._on_apply()
        return applied, True

    def get(self, name: str, version: int = 0) -> Definition:
        """A version of ``name`` (0: the latest); NOT_FOUND if there is none."""
        check_id(name, "name")
        version = version or self._latest_version(name)
        data = self._store.get(definition_key(name, version)) if version else None
        if data is None:
            what = f"version {version} of workflow {name}" if version else f"workflow {name}"
            raise NotFound(f"{what} does not exist")
        return Definition(**json.loads(data))

    def exists(self, name: str) -> bool:
        """Is ``name`` a workflow in the registry (applied and not deleted)?"""
        try:
            check_id(name, "name")
        except InvalidArgument:
            return False
        return self._latest_version(name) > 0

    def workflow(self, name: str, version: int = 0) -> ir.Workflow:
        """The compiled IR of a stored version (compiled once per process)."""
        definition = self.get(name, version)
        key = (definition.name, definition.version)
        workflow = self._compiled.get(key)
        if workflow is None:
            workflow = _compile(definition.source, self._python)
            with self._lock:
                self._keep(key, workflow)
        return workflow

    def _keep(self, key: tuple[str, int], workflow: ir.Workflow) -> None:
        """Remember a compiled version (the caller holds ``_lock``: applies and gets race)."""
        self._compiled[key] = workflow
        while len(self._compiled) > KEPT_COMPILED:
            del self._compiled[next(iter(self._compiled))]

    def list(self) -> list[Definition]:
        """The latest version of every workflow that is not deleted, by name."""
        prefix = latest_definition_key()
        return [self.get(key[len(prefix):].decode()) for key in self._store.scan(prefix)]

    def delete(self, name: str) -> Definition:
        """Remove ``name`` from get/list; returns the version that was latest."""
        with self._lock, self._store.exclusive(f"workflow definition {name}"):
            current = self.get(name)
            self._store.write({}, [latest_definition_key(name)])
            return current

    def _latest_version(self, name: str) -> int:
        data = self._store.get(latest_definition_key(name))
        return int(data) if data else 0

    def _highest_version(self, name: str) -> int:
        """The highest stored version, deleted names included (numbering never repeats)."""
        keys = list(self._store.scan(definition_prefix(name)))
        return int(keys[-1].rsplit(SEP.encode(), 1)[1]) if keys else 0


def _compile(source: str, python: PythonModules) -> ir.Workflow:
    try:
        return compile_workflow(load(source), python)
    except (DefinitionError, WorkflowInvalid) as error:
        raise InvalidArgument(f"workflow definition: {error}") from None
