"""The gRPC edge: a thread-pool grpcio server turning RPCs into engine calls and back."""

import stigmer_actors.logs  # noqa: F401  (this package logs: off until a program enables it)
