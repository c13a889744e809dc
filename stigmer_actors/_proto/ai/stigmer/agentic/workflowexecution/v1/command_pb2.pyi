from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import api_pb2 as _api_pb2
from stigmer_actors._proto.ai.stigmer.agentic.workflowexecution.v1 import io_pb2 as _io_pb2
from stigmer_actors._proto.ai.stigmer.commons.apiresource import io_pb2 as _io_pb2_1
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
