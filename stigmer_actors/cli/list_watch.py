"""``stigmer-actors list --watch``: the matching executions, then each change as it happens.

Like ``kubectl get -w --output-watch-events``: one line per event, ``TYPE  ID  KIND  PHASE
vVERSION`` (``--json``: every ``ExecutionEvent`` as JSON, one per line, BOOKMARKs
included). When the stream
breaks (the daemon restarts, the connection drops, this reader fell too far behind), it
resumes from the last resume token it got, so no change is printed twice or missed; when
the daemon no longer has that token (OUT_OF_RANGE: it restarted, or too many changes were
made meanwhile), it says so on stderr and lists again. Runs until interrupted (exit 130);
a daemon it cannot reach at the start is an error like for every command (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import grpc
from google.protobuf import json_format

from stigmer_actors import wire
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import kinds, phases

RESUMABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED,
                       grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})
BACKOFF = (0.1, 2.0)
"""Seconds to wait before reconnecting: the first, and the most (doubling in between)."""
_TYPE_NAMES = {v: k for k, v in wire.watch.WatchEventType.items()}


def line(event: wire.watch.ExecutionEvent) -> str:
    s = event.summary
    kind = "agent" if s.kind == wire.dispatch.AGENT else "workflow"
    phase = phases.name(s.phase).removeprefix("EXECUTION_")
    text = f"{_TYPE_NAMES[event.type]:<9} {s.id}  {kind}  {phase}  v{s.version}"
    if event.left_filter:
        text += "  (left the filter)"
    return f"{text}  error: {s.error}" if s.error else text


def run(args: argparse.Namespace, client: StigmerClient) -> int:
    kind = kinds.BY_NAME[args.kind] if args.kind else None
    wanted = [args.phase] if args.phase else []
    token = ""
    pause = BACKOFF[0]
    seen = False  # an unreachable daemon at the start is an error (exit 2), not a wait
    while True:
        stream = client.watch_executions(kind, phases=wanted, tags=args.tag, since=token)
        try:
            for event in stream:
                seen = True
                pause = BACKOFF[0]
                if event.resume_token:
                    token = event.resume_token
                if args.json:
                    print(json.dumps(json_format.MessageToDict(event), separators=(",", ":")), flush=True)
                elif event.type != wire.watch.BOOKMARK:
                    print(line(event), flush=True)
            why = "the stream ended (the daemon is stopping?)"
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.OUT_OF_RANGE:
                print(f"{error.details()}: listing again", file=sys.stderr, flush=True)
                token = ""
                continue
            if code not in RESUMABLE or not seen:
                raise
            why = f"{code.name}: {error.details()}"
        print(f"{why}; resuming in {pause:g} s", file=sys.stderr, flush=True)
        time.sleep(pause)
        pause = min(pause * 2, BACKOFF[1])
