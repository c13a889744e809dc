"""Generated protobuf and gRPC modules for the Stigmer wire contract (never edit by hand).

``ai/`` mirrors ``protos/`` (``stigmer_actors._proto.ai.stigmer.agentic.agentexecution.v1.
api_pb2`` is ``ai/stigmer/agentic/agentexecution/v1/api.proto``); the modules register into
``pool.POOL``, not protobuf's default pool, so upstream's own ``ai.stigmer...`` stubs can
share the process. Regenerate with ``python -m tools.generate_protos`` (from a checkout; its
docstring says with which generator) after changing anything under ``protos/``.
"""
