"""``stigmer-actors serve``: the daemon, with defaults that need no flags.

Secured when asked (README "Securing the daemon"): ``--api-keys`` (a key with a role on
every call), ``--tls-cert``/``--tls-key`` (TLS), ``--tls-client-ca`` (mutual TLS). It
will not serve an address other hosts can reach without keys or mutual TLS unless
``--insecure`` says so. Its own workflow runner reaches it over a Unix socket in a
private directory (no TLS to trust there), with a key made at start and kept in memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from loguru import logger

from stigmer_actors import logs
from stigmer_actors.cli.addresses import listen_address
from stigmer_actors.cli.parsing import bounded
from stigmer_actors.cli.startup import (
    EXIT_CANNOT_LISTEN,
    EXIT_DATABASE,
    EXIT_NO_DASHBOARD,
    EXIT_SECURITY_FILE,
    EXIT_UNGUARDED,
    is_loopback,
    raise_open_file_limit,
    unguarded_refusal,
)
from stigmer_actors.client.credentials import Credentials
from stigmer_actors.contract import DEFAULT_ADDRESS
from stigmer_actors.domain.errors import Unavailable
from stigmer_actors.domain.timeouts import MAX_TIMEOUT_SECONDS, Timeouts
from stigmer_actors.engine import Engine
from stigmer_actors.grpc_edge.server import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_STREAMS,
    EdgeServer,
)
from stigmer_actors.observability import Metrics
from stigmer_actors.observability.http import MetricsEndpoint
from stigmer_actors.runner.policy import HttpHosts, NodePolicy, PythonModules
from stigmer_actors.runner.service import DEFAULT_INACTIVITY_TIMEOUT, DEFAULT_WORKERS, WorkflowRunner
from stigmer_actors.security.errors import SecurityFileError
from stigmer_actors.security.keyring import KeyRing
from stigmer_actors.security.roles import Role
from stigmer_actors.security.tls import ServerTLS
from stigmer_actors.store.rocks import DURABILITIES
from stigmer_actors.supervisor import RestartPolicy, RunnerSpec, Supervisor, parse_runner
from stigmer_actors.supervisor.policy import CRASH_LOOP_EXITS, CRASH_LOOP_WINDOW, DEFAULT_BACKOFF, MAX_BACKOFF
from stigmer_actors.supervisor.spec import check_runners
from stigmer_actors.supervisor.supervisor import DEFAULT_GRACE, MAX_GRACE

if TYPE_CHECKING:
    from stigmer_actors.store.postgres.store import PostgresStore
    from stigmer_actors.web.server import WebServer

T = TypeVar("T")


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/stigmer-actors``, else ``~/.local/share/stigmer-actors``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "stigmer-actors"


MAX_STREAMS = 10_000
"""Each open stream holds a pool thread."""
MAX_MESSAGE_BYTES = 64 * 2**20
MAX_WORKERS = 256
_SECONDS = bounded(float, 0, MAX_TIMEOUT_SECONDS, " seconds (30 days)")


def _listed(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` for a comma-separated list (a refusal is one usage line, exit 2)."""
    def checked(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return checked


def add_runner_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=bounded(int, 1, MAX_WORKERS), default=DEFAULT_WORKERS,
                   help=f"worker threads for python/http/wait/agent nodes (1 to {MAX_WORKERS})")
    p.add_argument("--inactivity-timeout",
                   type=bounded(float, 0, MAX_TIMEOUT_SECONDS, " seconds (30 days)", above=True),
                   default=DEFAULT_INACTIVITY_TIMEOUT, metavar="SECONDS",
                   help="fail a run that makes no progress for this long")
    p.add_argument("--python-modules", type=_listed(PythonModules.parse), default=PythonModules(),
                   metavar="PKG,PKG.SUB",
                   help="modules python nodes may call, each with its submodules (default: none)")
    p.add_argument("--http-hosts", type=_listed(HttpHosts.parse), default=HttpHosts(),
                   metavar="HOST,IP,NET",
                   help="the only hosts http nodes may reach (default: any public address, no "
                        "loopback, private or link-local one)")


def node_policy(args: argparse.Namespace) -> NodePolicy:
    return NodePolicy(args.python_modules, args.http_hosts)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser("serve", help="run the execution-status daemon")
    p.add_argument("--address", type=listen_address, default=DEFAULT_ADDRESS, help="HOST:PORT to listen on")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="RocksDB data directory "
                        "(default: $XDG_DATA_HOME/stigmer-actors, else ~/.local/share/stigmer-actors)")
    p.add_argument("--store", default=None, metavar="postgres://...",
                   help="keep executions in this PostgreSQL database instead of RocksDB; every "
                        "daemon given the same one is a node of one cluster")
    p.add_argument("--cluster-lease", type=bounded(float, 1, 3600, " seconds"), default=15.0,
                   metavar="SECONDS", help="with --store: how long a node's hold on a PENDING "
                   "execution, a due timer or a workflow run lasts unless renewed (1 to 3,600)")
    p.add_argument("--durability", choices=DURABILITIES, default="wal",
                   help="RocksDB: wal survives a process crash; sync, an fsync per write, survives "
                        "power loss")
    p.add_argument("--max-streams", type=bounded(int, 1, MAX_STREAMS), default=DEFAULT_MAX_STREAMS,
                   help=f"open subscribe, watchExecutions and claim streams at once (1 to {MAX_STREAMS:,})")
    p.add_argument("--max-message-bytes", type=bounded(int, 1024, MAX_MESSAGE_BYTES),
                   default=DEFAULT_MAX_MESSAGE_BYTES,
                   help="larger requests are refused with RESOURCE_EXHAUSTED (1 KiB to 64 MiB)")
    p.add_argument("--pending-timeout", type=_SECONDS, default=Timeouts.pending, metavar="SECONDS",
                   help="fail executions no runner picked up in this time (0: never; at most 30 days)")
    p.add_argument("--heartbeat-timeout", type=_SECONDS, default=Timeouts.heartbeat, metavar="SECONDS",
                   help="fail IN_PROGRESS executions with no update in this time (0: never; at most 30 days)")
    p.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (off by default)")
    p.add_argument("--http-address", default=None, metavar="HOST:PORT",
                   help="serve the web dashboard at http://HOST:PORT/ (off by default; needs the web "
                        "extra; --api-keys and --tls-* apply to it too)")
    p.add_argument("--no-runner", action="store_true",
                   help="do not run workflow executions here (leave them to external runners)")
    p.add_argument("--runner", action=_AddRunner, type=_runner_spec, default=[], metavar="NAME=COMMAND",
                   help="start COMMAND as a runner process, restart it when it exits, stop it on "
                        "exit (repeatable; a NAME starting with 'workflow' serves workflow "
                        "executions, any other agent executions)")
    p.add_argument("--runner-grace", type=bounded(float, 0, MAX_GRACE, " seconds"), default=DEFAULT_GRACE,
                   metavar="SECONDS", help="on shutdown, seconds runners get after SIGTERM before "
                                           f"SIGKILL (default {DEFAULT_GRACE:g}, at most {MAX_GRACE:g})")
    p.add_argument("--runner-backoff", type=bounded(float, 0, MAX_BACKOFF, " seconds"),
                   default=DEFAULT_BACKOFF, metavar="SECONDS",
                   help="delay before restarting a runner that exited, doubled for each exit "
                        f"within {CRASH_LOOP_WINDOW:g} s (default {DEFAULT_BACKOFF:g}, at most "
                        f"{MAX_BACKOFF:g}); the {CRASH_LOOP_EXITS}th exit there marks it failed")
    p.add_argument("--api-keys", type=Path, default=None, metavar="FILE",
                   help="require an API key on every call but health's (stigmer-actors keys create)")
    p.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                   help="serve TLS with this PEM certificate (chain)")
    p.add_argument("--tls-key", type=Path, default=None, metavar="FILE", help="its PEM private key")
    p.add_argument("--tls-client-ca", type=Path, default=None, metavar="FILE",
                   help="mutual TLS: clients must present a certificate this PEM CA signed")
    p.add_argument("--insecure", action="store_true",
                   help="serve a non-loopback --address without API keys or mutual TLS")
    add_runner_options(p)
    logs.add_options(p)
    p.set_defaults(run=run)


def _runner_spec(text: str) -> RunnerSpec:
    try:
        return parse_runner(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


class _AddRunner(argparse.Action):
    """Appends a ``--runner``, refusing a NAME given twice (one usage line, exit 2)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        specs = [*getattr(namespace, self.dest), values]
        try:
            check_runners(specs)
        except ValueError as error:
            raise argparse.ArgumentError(self, str(error)) from None
        setattr(namespace, self.dest, specs)


def connection_bound(open_files: int) -> int:
    """Client connections allowed at once: half the descriptors, the rest kept for the
    store and everything else, and at most DEFAULT_MAX_CONNECTIONS."""
    return max(1, min(DEFAULT_MAX_CONNECTIONS, open_files // 2))


STOP_POLL = 0.5
"""Seconds between the main thread's checks for a stop signal (see ``run``)."""


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT. A store that will not open raises StoreOpenError
    (``cli/main.py`` reports it); every other refusal is reported here.

    Runner processes (``--runner``) start once the server listens and stop first, each
    within ``--runner-grace`` (``stigmer_actors/supervisor``): the daemon returns only after
    they are reaped.

    The main thread waits for the stop with a timeout, not forever: a signal delivered to
    one of grpc's or RocksDB's threads runs its Python handler only when the main thread
    next runs Python code, and a main thread blocked in ``Event.wait()`` never would (one
    stop in ten hung so here). Blocking the signals in the other threads instead would
    pass the mask on to every process a workflow node starts.
    """
    logs.configure(args.log_level, args.log_format)
    if args.store and args.data_dir:
        logger.error("give --data-dir (RocksDB) or --store (PostgreSQL), not both")
        return 2
    data_dir = None if args.store else args.data_dir or default_data_dir()
    try:
        keys, tls = _security(args)
    except SecurityFileError as error:
        logger.error(str(error))
        return EXIT_SECURITY_FILE
    except ValueError as error:  # flags that do not go together
        logger.error(str(error))
        return 2
    for address in (args.address, args.http_address):
        if address is None or is_loopback(address):
            continue
        if keys is None and (tls is None or not tls.mutual):
            if not args.insecure:
                logger.error(unguarded_refusal(address))
                return EXIT_UNGUARDED
            logger.warning("serving {address} with no API keys and no mutual TLS (--insecure): "
                           "anyone who reaches it can read, change and delete every execution",
                           address=address)
        elif keys is not None and tls is None:
            logger.warning("API keys travel in clear text to {address}: give --tls-cert and "
                           "--tls-key", address=address)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    max_connections = connection_bound(raise_open_file_limit())
    logger.debug("at most {count} client connections", count=max_connections)
    supervisor = Supervisor(args.runner, RestartPolicy(args.runner_backoff), args.runner_grace)
    try:
        metrics = Metrics()
        engine = Engine(
            data_dir,
            store=args.store,
            durability=args.durability,
            pending_timeout=args.pending_timeout,
            heartbeat_timeout=args.heartbeat_timeout,
            metrics=metrics,
            no_runner_reason=supervisor.no_runner_reason,
            python_modules=args.python_modules.allowed,
            cluster_lease=args.cluster_lease,
        )
    except (Unavailable, RuntimeError, ValueError) as error:
        if not args.store:
            raise
        message = error.message if isinstance(error, Unavailable) else str(error)
        logger.error("{message}: check that the database runs and --store names it", message=message)
        return EXIT_DATABASE
    endpoint = None
    # The runners' own way in (this process's and the supervised ones'): a socket in a
    # directory only this user can open.
    local = None if args.no_runner and not args.runner else Path(tempfile.mkdtemp(prefix="stigmer-actors-"))
    web = None
    started: list[EdgeServer | MetricsEndpoint] = []  # stopped again if a later part fails
    try:
        server = EdgeServer(engine, args.address, args.max_streams, args.max_message_bytes,
                            max_connections, supervised=supervisor.wire_states, keys=keys, tls=tls,
                            local_socket=str(local / "runner.sock") if local else None).start()
        started.append(server)
        if args.metrics_address:
            endpoint = MetricsEndpoint(args.metrics_address, metrics)
            started.append(endpoint)
            logger.info("metrics at {url}", url=endpoint.url)
        if args.http_address:
            web = _dashboard(engine, args.http_address, keys, tls)
            logger.info("dashboard at {url}", url=web.url)
    except (OSError, ValueError, ImportError) as error:
        for part in started:
            part.stop()
        engine.close()
        _remove(local)
        if isinstance(error, ImportError):
            logger.error("cannot serve the dashboard: {error}; install the web extra "
                         "(pip install 'stigmer-actors[web]')", error=error)
            return EXIT_NO_DASHBOARD
        logger.error("cannot serve: {error}; give another --address (or --metrics-address, "
                     "--http-address), or stop what holds it", error=error)
        return EXIT_CANNOT_LISTEN
    if keys is not None:
        keys.start()
    runner = None
    if server.local_address is not None and not args.no_runner:
        # A key in memory only, for this process's runner, with the runner role.
        key = keys.add_internal("serve-runner", Role.RUNNER) if keys is not None else ""
        runner = WorkflowRunner(server.local_address, engine.store, runner_id="serve",
                                workers=args.workers, inactivity_timeout=args.inactivity_timeout,
                                credentials=Credentials(api_key=key), policy=node_policy(args),
                                lease=args.cluster_lease).start()
    # Supervised runners come in the same way: the private socket, a key each (in memory).
    runners_dir = (data_dir or default_data_dir()).absolute()
    supervisor.start(server.local_address or server.address, runners_dir,
                     key_for=(lambda name: keys.add_internal(f"runner {name}", Role.RUNNER))
                     if keys is not None else None)
    _log_security(keys, tls)
    if data_dir is not None:
        logger.info("listening on {address}, data in {data_dir} ({durability} durability)",
                    address=server.address, data_dir=str(data_dir), durability=args.durability)
    else:
        from stigmer_actors.store.postgres.dsn import redact  # the postgres extra: only with --store

        logger.info("listening on {address}, data in PostgreSQL {store}, node {node}",
                    address=server.address, store=redact(args.store), node=cast("PostgresStore", engine.store).node)
    while not stop.wait(STOP_POLL):
        pass
    supervisor.stop()  # first, while the server still takes the runners' last reports
    if runner is not None:
        runner.stop()
    logger.info("shutting down: ending {streams} open streams", streams=server.streams.count)
    if web is not None:
        web.stop()
    server.stop(grace=3.0)
    if endpoint is not None:
        endpoint.stop()
    if keys is not None:
        keys.stop()
    engine.close()
    _remove(local)
    logger.info("stopped; store flushed")
    return 0


def _security(args: argparse.Namespace) -> tuple[KeyRing | None, ServerTLS | None]:
    """The keys and TLS files asked for, read and checked (SecurityFileError naming the
    file that is wrong; ValueError for flags that do not go together)."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together: give both, or neither")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise ValueError("--tls-client-ca needs TLS: give --tls-cert and --tls-key too")
    tls = ServerTLS.load(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    keys = KeyRing(args.api_keys) if args.api_keys is not None else None
    if keys is not None and args.api_keys.stat().st_mode & 0o022:
        logger.warning("API keys file {path} can be written by other users: they could add keys "
                       "(chmod 600 it)", path=args.api_keys)
    return keys, tls


def _log_security(keys: KeyRing | None, tls: ServerTLS | None) -> None:
    transport = "plain" if tls is None else "mutual TLS" if tls.mutual else "TLS"
    access = f"API keys from {keys.path} ({keys.file_keys} keys)" if keys is not None else "no API keys"
    logger.info("security: {transport}, {access}", transport=transport, access=access)


def _remove(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def _dashboard(engine: Engine, address: str, keys: KeyRing | None,
               tls: ServerTLS | None) -> WebServer:
    """The dashboard's server, started, behind the same API keys and TLS as the gRPC port."""
    from stigmer_actors.web.server import WebServer

    return WebServer(engine, address, keys=keys, tls=tls).start()
