"""Which runner runs a workflow run, when runners share a store (a cluster's database).

A run's recorded progress is in the store, so any runner there can resume it. To make it
exactly one, a runner holds a lease named after the run (``store.acquire_lease``) while it
runs it: taken when the run starts or is resumed, renewed every third of ``lease``
seconds, given up when the run ends or the runner stops. Every ``lease / 2`` seconds a
runner also looks for recorded runs nobody holds (their runner died: its lease lapsed) and
resumes them, from their recorded outcomes, like after a restart.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable

from loguru import logger

from stigmer_actors.store.base import Store

DEFAULT_LEASE = 15.0


def lease_name(execution_id: str) -> str:
    return f"run {execution_id}"


class RunLeases:
    def __init__(self, store: Store, runner_id: str, lease: float = DEFAULT_LEASE) -> None:
        self._store = store
        self.lease = lease
        self.owner = f"{runner_id}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def take(self, execution_id: str) -> bool:
        """This runner's now (True), or another's whose lease is current (False)."""
        if not self._store.acquire_lease(lease_name(execution_id), self.owner, self.lease):
            return False
        with self._lock:
            self._held.add(execution_id)
        return True

    def give_up(self, execution_id: str) -> None:
        with self._lock:
            self._held.discard(execution_id)
        try:
            self._store.release_lease(lease_name(execution_id), self.owner)
        except Exception as error:  # unreachable store: the lease lapses instead
            logger.debug("run {eid}: lease not released ({error})", eid=execution_id, error=error)

    def renew(self) -> None:
        """Extend every held lease; one this runner lost (it was away too long) is dropped
        from ``held`` and its run should stop here (``lost``)."""
        with self._lock:
            held = sorted(self._held)
        for execution_id in held:
            if not self._store.acquire_lease(lease_name(execution_id), self.owner, self.lease):
                logger.warning("run {eid}: another runner took it over", eid=execution_id)
                with self._lock:
                    self._held.discard(execution_id)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)


class Tender(threading.Thread):
    """Renews this runner's leases and adopts orphaned runs, every ``lease / 3`` seconds."""

    def __init__(self, leases: RunLeases, adopt: Callable[[], None], stopping: threading.Event) -> None:
        super().__init__(name="workflow-leases", daemon=True)
        self._leases = leases
        self._adopt = adopt
        self._stopping = stopping
        self.errors = 0

    def run(self) -> None:
        while not self._stopping.wait(self._leases.lease / 3):
            try:
                self._leases.renew()
                self._adopt()
            except Exception:  # one bad pass must not end the tending for good
                self.errors += 1
                logger.opt(exception=True).warning("workflow run leases: pass failed; retrying")
