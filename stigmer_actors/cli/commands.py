"""create / get / list / delete / update-status / cancel / runners / stats: one RPC each, printed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from google.protobuf import json_format

from stigmer_actors import wire
from stigmer_actors.cli import enums, list_watch
from stigmer_actors.cli.inputs import read_status
from stigmer_actors.cli.output import as_json, details, summary
from stigmer_actors.cli.parsing import Commands, Parser
from stigmer_actors.cli.watch import follow
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.clock import now_iso

PHASE_ENUM = wire.agent_enum.ExecutionPhase.DESCRIPTOR
"""ExecutionPhase (both kinds share it)."""


def phase(text: str) -> int:
    """``--phase``: a phase other than UNSPECIFIED, named in either form, any case."""
    try:
        value = enums.value_of(PHASE_ENUM, text)
    except ValueError:
        value = phases.UNSPECIFIED
    if value == phases.UNSPECIFIED:
        names = [n for n, v in enums.short_names(PHASE_ENUM).items() if v != phases.UNSPECIFIED]
        raise argparse.ArgumentTypeError(f"unknown phase {text!r}; one of {', '.join(names)}")
    return value


def add_parsers(
    commands: Commands,
    common: Parser,
) -> None:
    create = commands.add_parser("create", help="create an execution")
    what = create.add_subparsers(dest="what", required=True)
    a = what.add_parser("agent", parents=[common], help="an agent execution")
    a.add_argument("--message", required=True, help="what the agent is asked")
    a.add_argument("--agent-id", default="", help="the agent (this or --session-id is required)")
    a.add_argument("--session-id", default="", help="the session it belongs to")
    a.add_argument("--watch", action="store_true",
                   help="then show it live until it ends, as `watch` does (and exit as it does)")
    a.set_defaults(run=run_create_agent)
    w = what.add_parser("workflow", parents=[common], help="a workflow execution")
    ids = w.add_mutually_exclusive_group(required=True)
    ids.add_argument("--workflow-id", default="", help="the workflow (its definition's name, to run it here)")
    ids.add_argument("--workflow-instance-id", default="", help="the workflow instance")
    w.add_argument("--trigger-message", default="", help="what started it")
    w.set_defaults(run=run_create_workflow)

    g = commands.add_parser("get", parents=[common], help="show one execution")
    g.add_argument("id", help="the execution's id")
    g.set_defaults(run=run_get)
    ls = commands.add_parser("list", parents=[common], help="list executions")
    ls.add_argument("--kind", choices=["agent", "workflow"], default=None, help="default: both")
    ls.add_argument("--phase", type=phase, default=None, help="only executions in this phase (default: any)")
    ls.add_argument("--tag", action="append", default=[], help="only executions with this tag; repeatable")
    ls.add_argument("--watch", "-w", action="store_true",
                    help="then print each change as it happens (until interrupted)")
    ls.set_defaults(run=run_list)
    d = commands.add_parser("delete", parents=[common], help="delete an execution")
    d.add_argument("id", help="the execution's id")
    d.set_defaults(run=run_delete)
    r = commands.add_parser("runners", parents=[common], help="connected runners, what they hold")
    r.set_defaults(run=run_runners)
    st = commands.add_parser("stats", parents=[common], help="how busy the daemon is, in figures")
    st.set_defaults(run=run_stats)
    u = commands.add_parser("update-status", parents=[common], help="merge a status update")
    u.add_argument("id", help="the execution's id")
    u.add_argument("--status", metavar="JSON", default=None,
                   help="status fields to merge, as proto3 JSON; - reads it from stdin "
                        "(--phase and --error override its fields)")
    u.add_argument("--phase", type=phase, default=None, help="the new phase (IN_PROGRESS or EXECUTION_IN_PROGRESS)")
    u.add_argument("--error", default="", help="the error text")
    u.set_defaults(run=run_update_status)
    c = commands.add_parser("cancel", parents=[common], help="set an execution CANCELLED (its runner stops it)")
    c.add_argument("id", help="the execution's id")
    c.add_argument("--reason", default="", help="why, kept as the status's error")
    c.set_defaults(run=run_cancel)


def _print(args: argparse.Namespace, execution: wire.Execution, long: bool = False) -> None:
    print(as_json(execution) if args.json else (details if long else summary)(execution))


def run_create_agent(args: argparse.Namespace, client: StigmerClient) -> int:
    created = client.create_agent(args.message, agent_id=args.agent_id, session_id=args.session_id)
    _print(args, created)
    if args.watch:
        sys.stdout.flush()
        return follow(client, created.metadata.id, args.json)
    return 0


def run_create_workflow(args: argparse.Namespace, client: StigmerClient) -> int:
    created = client.create_workflow(
        workflow_id=args.workflow_id,
        workflow_instance_id=args.workflow_instance_id,
        trigger_message=args.trigger_message,
    )
    _print(args, created)
    return 0


def run_get(args: argparse.Namespace, client: StigmerClient) -> int:
    _print(args, client.get(args.id), long=True)
    return 0


def run_list(args: argparse.Namespace, client: StigmerClient) -> int:
    if args.watch:
        return list_watch.run(args, client)
    chosen = [kinds.BY_NAME[args.kind]] if args.kind else list(kinds.KINDS)
    for kind in chosen:
        token = ""
        while True:
            page = client.list(kind, phase=args.phase or phases.UNSPECIFIED, tags=args.tag,
                               page_size=500, page_token=token)
            for execution in page.entries:
                _print(args, execution)
            token = page.next_page_token
            if not token:
                break
    return 0


def run_delete(args: argparse.Namespace, client: StigmerClient) -> int:
    _print(args, client.delete(args.id))
    return 0


def run_update_status(args: argparse.Namespace, client: StigmerClient) -> int:
    kind = client.kind_of(args.id)
    status = kind.status_cls() if args.status is None else read_status(args.status, kind)
    if args.phase:
        status.phase = args.phase
    if args.error:
        status.error = args.error
    _print(args, client.update_status(args.id, status))
    return 0


def run_cancel(args: argparse.Namespace, client: StigmerClient) -> int:
    """Like Temporal's ``workflow cancel``: the execution becomes CANCELLED (final), its
    watchers see it, and a workflow run of this daemon's runner stops its nodes. One that
    is CANCELLED already is left as it is; one that ended otherwise is refused by the
    daemon (FAILED_PRECONDITION)."""
    current = client.get(args.id)
    if current.status.phase == phases.CANCELLED:  # cancelled already: nothing to rewrite
        _print(args, current)
        return 0
    status = kinds.of_message(current).status_cls(phase=phases.CANCELLED, completed_at=now_iso(),
                                                  error=args.reason)
    _print(args, client.update_status(args.id, status))
    return 0


def run_runners(args: argparse.Namespace, client: StigmerClient) -> int:
    listing = client.runners()
    if args.json:
        print(json.dumps(json_format.MessageToDict(listing), separators=(",", ":")))
        return 0
    for r in listing.runners:
        kind = "agent" if r.kind == 1 else "workflow"
        held = ", ".join(r.holding) or "-"
        print(f"{r.runner_id}  {kind}  capacity {r.capacity}  claimed {r.claimed}  holding {held}")
    queued = ", ".join(f"{k} {v}" for k, v in sorted(listing.queued.items()))
    print(f"{len(listing.runners)} runners connected; waiting for a runner: {queued}")
    if listing.supervised:
        print("supervised by the daemon:")
        for s in listing.supervised:
            print(f"  {supervised_text(s)}  ({s.command})")
            if s.state != wire.dispatch.RUNNER_RUNNING and s.last_stderr:
                print(f"    last output: {s.last_stderr[-1]}")
    return 0


def supervised_text(r: wire.dispatch.SupervisedRunner) -> str:
    """One supervised runner: name, kind, state, pid, restarts, last exit, uptime."""
    state = wire.dispatch.RunnerState.Name(r.state).removeprefix("RUNNER_").replace("_", " ").lower()
    kind = "agent" if r.kind == wire.dispatch.AGENT else "workflow"
    parts = [f"{r.name} ({kind})", state]
    if r.pid:
        parts += [f"pid {r.pid}", f"up {r.uptime_seconds:,.0f} s"]
    parts.append(f"{r.restarts:,} restarts")
    if r.HasField("last_exit_code"):
        parts.append(f"last exit {r.last_exit_code}")
    if r.output_lines_dropped:
        parts.append(f"{r.output_lines_dropped:,} output lines not logged")
    return " · ".join(parts)


def run_stats(args: argparse.Namespace, client: StigmerClient) -> int:
    stats = client.stats()
    if args.json:
        print(json.dumps(json_format.MessageToDict(stats), separators=(",", ":")))
        return 0
    print(stats_text(stats))
    return 0


def stats_text(s: Any) -> str:
    """A few aligned lines an operator can read at a glance."""
    steps = " · ".join(f"{k.replace('_', '-')} {s.step_mean_ms[k]:.3f}" for k in
                       ("load", "merge", "persist", "fan_out"))
    codes = " · ".join(f"{k} {v:,}" for k, v in sorted(s.requests_by_code.items())) or "none"
    watchdog = " · ".join(f"{k} {v:,}" for k, v in sorted(s.watchdog_failures.items())) or "none"
    return "\n".join([
        f"uptime      {s.uptime_seconds:,.0f} s",
        f"actors      {s.live_actors:,} live · {s.actors_spawned:,} spawned · "
        f"{s.actors_evicted:,} evicted idle",
        f"updates     {s.status_updates:,} updateStatus · p50 {s.update_p50_ms:.2f} ms · "
        f"p99 {s.update_p99_ms:.2f} ms",
        f"steps       {steps} ms (mean per change)",
        f"watchers    {s.open_subscriptions:,} subscriptions · {s.open_streams:,} streams · "
        f"{s.streams_refused:,} refused",
        f"slow        {s.states_coalesced:,} states coalesced · slowest "
        f"{s.slowest_subscriber_lag:,} versions behind",
        f"requests    {codes}",
        f"watchdog    {watchdog}",
        f"store       {s.store_written_bytes:,} bytes written",
        *(f"runner      {supervised_text(r)}" for r in s.supervised_runners),
    ])
