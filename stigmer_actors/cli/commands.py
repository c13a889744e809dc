"""create / get / list / delete / update-status: one RPC each, printed."""

from __future__ import annotations

import argparse
import json

from google.protobuf import json_format

from stigmer_actors.cli import list_watch
from stigmer_actors.cli.output import as_json, details, summary
from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import kinds, phases

PHASES = {n.removeprefix("EXECUTION_"): v for v, n in phases.NAMES.items() if v}


def _phase(text: str) -> int:
    try:
        return PHASES[text.upper().removeprefix("EXECUTION_")]
    except KeyError:
        raise argparse.ArgumentTypeError(f"unknown phase {text!r}; one of {', '.join(PHASES)}") from None


def add_parsers(
    commands: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    address: argparse.ArgumentParser,
) -> None:
    create = commands.add_parser("create", help="create an execution")
    what = create.add_subparsers(dest="what", required=True)
    a = what.add_parser("agent", parents=[common])
    a.add_argument("--message", required=True)
    a.add_argument("--agent-id", default="")
    a.add_argument("--session-id", default="")
    a.set_defaults(run=run_create_agent)
    w = what.add_parser("workflow", parents=[common])
    ids = w.add_mutually_exclusive_group(required=True)
    ids.add_argument("--workflow-id", default="")
    ids.add_argument("--workflow-instance-id", default="")
    w.add_argument("--trigger-message", default="")
    w.set_defaults(run=run_create_workflow)

    g = commands.add_parser("get", parents=[common], help="show one execution")
    g.add_argument("id")
    g.set_defaults(run=run_get)
    ls = commands.add_parser("list", parents=[common], help="list executions")
    ls.add_argument("--kind", choices=["agent", "workflow"], default=None, help="default: both")
    ls.add_argument("--phase", type=_phase, default=phases.UNSPECIFIED)
    ls.add_argument("--tag", action="append", default=[], help="only executions with this tag; repeatable")
    ls.add_argument("--watch", "-w", action="store_true",
                    help="then print each change as it happens (until interrupted)")
    ls.set_defaults(run=run_list)
    d = commands.add_parser("delete", parents=[common], help="delete an execution")
    d.add_argument("id")
    d.set_defaults(run=run_delete)
    r = commands.add_parser("runners", parents=[common], help="connected runners, what they hold")
    r.set_defaults(run=run_runners)
    st = commands.add_parser("stats", parents=[common], help="how busy the daemon is, in figures")
    st.set_defaults(run=run_stats)
    u = commands.add_parser("update-status", parents=[address], help="merge a status update")
    u.add_argument("id")
    u.add_argument("--phase", type=_phase, default=phases.UNSPECIFIED)
    u.add_argument("--error", default="")
    # Here --json doubles as the status input: bare, it asks for JSON output like elsewhere;
    # with a value, that value is the status (proto3 JSON) and the output is JSON as well.
    u.add_argument("--json", nargs="?", const=True, default=False, metavar="STATUS_JSON",
                   help="status fields as proto3 JSON (--phase/--error override them)")
    u.set_defaults(run=run_update_status)


def _print(args: argparse.Namespace, execution, long: bool = False) -> None:  # noqa: ANN001
    print(as_json(execution) if args.json else (details if long else summary)(execution))


def run_create_agent(args: argparse.Namespace, client: StigmerClient) -> int:
    _print(args, client.create_agent(args.message, agent_id=args.agent_id, session_id=args.session_id))
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
            page = client.list(kind, phase=args.phase, tags=args.tag, page_size=500, page_token=token)
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
    status = kind.status_cls()
    if isinstance(args.json, str):
        try:
            json_format.Parse(args.json, status)
        except (json_format.ParseError, json.JSONDecodeError) as error:
            raise SystemExit(f"--json is not a valid {kind.status_cls.__name__}: {error}") from None
    if args.phase:
        status.phase = args.phase
    if args.error:
        status.error = args.error
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
    return 0


def run_stats(args: argparse.Namespace, client: StigmerClient) -> int:
    stats = client.stats()
    if args.json:
        print(json.dumps(json_format.MessageToDict(stats), separators=(",", ":")))
        return 0
    print(stats_text(stats))
    return 0


def stats_text(s) -> str:  # noqa: ANN001
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
    ])
