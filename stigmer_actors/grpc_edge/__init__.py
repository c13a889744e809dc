"""The gRPC edge: a thread-pool grpcio server turning RPCs into engine calls and back."""
