"""ai.stigmer.actors.v1.WorkflowDefinitions: apply / get / list / delete definitions."""

from __future__ import annotations

import grpc

from stigmer_actors.grpc_edge.handlers import unary
from stigmer_actors.runner.definitions import Definition, DefinitionRegistry
from stigmer_actors.wire import workflows

SERVICE = workflows.DESCRIPTOR.services_by_name["WorkflowDefinitions"].full_name


def _wire(d: Definition) -> workflows.WorkflowDefinition:
    return workflows.WorkflowDefinition(name=d.name, version=d.version, ir_hash=d.ir_hash,
                                        source=d.source, applied_at=d.applied_at)


def definitions_handler(registry: DefinitionRegistry) -> grpc.GenericRpcHandler[bytes, bytes]:
    def apply(request: workflows.ApplyDefinitionRequest, context: grpc.ServicerContext) -> bytes:
        definition, changed = registry.apply(request.source)
        return workflows.ApplyDefinitionResponse(
            definition=_wire(definition), changed=changed).SerializeToString()

    def get(request: workflows.DefinitionRef, context: grpc.ServicerContext) -> bytes:
        return _wire(registry.get(request.name, request.version)).SerializeToString()

    def list_(request: workflows.ListDefinitionsRequest, context: grpc.ServicerContext) -> bytes:
        return workflows.WorkflowDefinitionList(
            definitions=[_wire(d) for d in registry.list()]).SerializeToString()

    def delete(request: workflows.DefinitionRef, context: grpc.ServicerContext) -> bytes:
        return _wire(registry.delete(request.name)).SerializeToString()

    name = "WorkflowDefinitions"
    return grpc.method_handlers_generic_handler(SERVICE, {
        "apply": unary(f"{name}.apply", apply, workflows.ApplyDefinitionRequest),
        "get": unary(f"{name}.get", get, workflows.DefinitionRef),
        "list": unary(f"{name}.list", list_, workflows.ListDefinitionsRequest),
        "delete": unary(f"{name}.delete", delete, workflows.DefinitionRef),
    })
