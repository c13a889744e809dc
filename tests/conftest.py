"""Shared fixtures: a real Engine on a real store, run once on each: RocksDB in a temporary
directory, and a fresh database of a real PostgreSQL (``tests/postgres.py``), for the tests
whose behaviour does not depend on the store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stigmer_actors import Engine, wire
from tests.postgres import PostgresServer

STORES = ("rocksdb", "postgres")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer()
    except FileNotFoundError as error:
        if os.environ.get("CI"):
            raise  # .ci/run installs PostgreSQL: missing there is a failure, not a skip
        pytest.skip(str(error))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.dsn(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, data_dir: Path) -> dict[str, Any]:
    """How to open an Engine on each store: ``Engine(**store, ...)``."""
    if request.param == "postgres":
        return {"store": request.getfixturevalue("pg_dsn")}
    return {"data_dir": data_dir}


@pytest.fixture
def engine(store: dict[str, Any]) -> Iterator[Engine]:
    with Engine(**store, pending_timeout=0, heartbeat_timeout=0) as e:
        yield e


def agent(message: str = "hello", session_id: str = "sess-1", **metadata: object):
    """A create request for an agent execution."""
    return wire.AgentExecution(
        metadata=metadata, spec=wire.agent_spec.AgentExecutionSpec(message=message, session_id=session_id)
    )


def workflow(workflow_id: str = "wf-1", **metadata: object):
    """A create request for a workflow execution."""
    return wire.WorkflowExecution(
        metadata=metadata, spec=wire.workflow_spec.WorkflowExecutionSpec(workflow_id=workflow_id)
    )


@pytest.fixture
def served(store: dict[str, Any]):
    """A real gRPC server on a free loopback port over a real engine, and a client for it."""
    from stigmer_actors.client import StigmerClient
    from stigmer_actors.grpc_edge.server import EdgeServer
    from stigmer_actors.observability import Metrics

    # Timers off: these tests are about the wire, and a loaded machine must not turn a slow
    # test's PENDING execution into a watchdog FAILED (tests/test_watchdog.py covers those).
    engine = Engine(**store, pending_timeout=0, heartbeat_timeout=0, metrics=Metrics())
    server = EdgeServer(engine, "127.0.0.1:0", max_streams=1200).start()
    client = StigmerClient(server.address)
    try:
        yield engine, server, client
    finally:
        client.close()
        server.stop(grace=1)
        engine.close()


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1300,900",
)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless Chromium (Debian's chromium + chromium-driver) for the whole session."""
    import os
    import shutil

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver must be installed (.ci/run installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where browser tests leave screenshots (not committed): $STIGMER_ARTIFACTS or a temp dir."""
    import os
    import tempfile

    folder = Path(os.environ.get("STIGMER_ARTIFACTS") or Path(tempfile.gettempdir()) / "stigmer-actors-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
