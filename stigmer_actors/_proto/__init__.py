"""Generated protobuf and gRPC modules for the Stigmer wire contract (never edit by hand).

The modules keep upstream's import paths (``ai.stigmer.agentic.agentexecution.v1.api_pb2``
and so on), because protoc writes imports between them in that form. This package's folder
is therefore put on ``sys.path`` once, here, so ``import ai.stigmer...`` resolves to the
copies shipped inside ``stigmer_actors``. Regenerate with
``python -m stigmer_actors._proto.generate`` after changing anything under ``protos/``.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)
