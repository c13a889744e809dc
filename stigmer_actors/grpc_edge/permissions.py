"""Which role each RPC needs: the one table the daemon's access check reads.

Every method of every service the daemon serves is listed (``tests/test_security.py``
checks the table against what the server registers); a method missing here would need
``admin``. Health is open: load balancers and supervisors probe it without a key.
Reflection follows the services' rule (any valid key): it describes them.
"""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection

from stigmer_actors.contract import WIRE_KINDS
from stigmer_actors.grpc_edge.admin_servicer import SERVICE as ADMIN
from stigmer_actors.grpc_edge.definitions_servicer import SERVICE as DEFINITIONS
from stigmer_actors.grpc_edge.dispatch_servicer import SERVICE as DISPATCH
from stigmer_actors.grpc_edge.watch_servicer import SERVICE as WATCH
from stigmer_actors.security.roles import Role

VIEWER, RUNNER, ADMIN_ROLE = Role.VIEWER, Role.RUNNER, Role.ADMIN


def _rows() -> list[tuple[str, str, Role]]:
    rows = []
    for wk in WIRE_KINDS:
        rows += [
            (wk.command_service, "create", RUNNER),
            (wk.command_service, "update", ADMIN_ROLE),
            (wk.command_service, "updateStatus", RUNNER),
            (wk.command_service, "delete", ADMIN_ROLE),
            (wk.query_service, "get", VIEWER),
            (wk.query_service, "list", VIEWER),
            (wk.query_service, wk.owner_method, VIEWER),
            (wk.query_service, "subscribe", VIEWER),
        ]
    return rows + [
        (DISPATCH, "claim", RUNNER),
        (DISPATCH, "listRunners", VIEWER),
        (ADMIN, "stats", VIEWER),
        (WATCH, "watchExecutions", VIEWER),
        (DEFINITIONS, "apply", ADMIN_ROLE),
        (DEFINITIONS, "get", VIEWER),
        (DEFINITIONS, "list", VIEWER),
        (DEFINITIONS, "delete", ADMIN_ROLE),
        (reflection.SERVICE_NAME, "ServerReflectionInfo", VIEWER),
    ]


METHOD_ROLES: dict[str, Role] = {f"/{service}/{method}": role for service, method, role in _rows()}
"""Full gRPC method path (``/package.Service/method``) -> the least role that may call it."""

OPEN_METHODS = frozenset(f"/{health.SERVICE_NAME}/{m.name}"
                         for m in health_pb2.DESCRIPTOR.services_by_name["Health"].methods)
"""Methods anyone may call, with or without a key: health's (Check, Watch, and List where
grpc's health proto has it)."""

UNLISTED_ROLE = ADMIN_ROLE
"""What a served method missing from the table needs (none should be)."""


def needed_role(method: str) -> Role | None:
    """The role ``method`` needs; None if it is open."""
    if method in OPEN_METHODS:
        return None
    return METHOD_ROLES.get(method, UNLISTED_ROLE)
