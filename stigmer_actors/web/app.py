"""The dashboard as a WSGI application (Flask): server-rendered pages, SSE for live parts.

Pages work without JavaScript (they are complete HTML); ``static/dashboard.js`` only opens
the SSE streams and applies what they carry, and opens a task's details when its node is
clicked. Deep links: ``/executions/<id>``, ``/workflows/<name>?version=N``.

``wsgi`` wraps the application in the middlewares it is given, outermost last: the place
where a check of API keys (the security issue) goes, for every page and stream alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, redirect, render_template, request
from markupsafe import Markup

from stigmer_actors.domain import kinds, phases
from stigmer_actors.domain.errors import EngineError, InvalidArgument, NotFound
from stigmer_actors.engine import Engine
from stigmer_actors.feed import DELETED, Event, ExecutionFilter
from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.web import listing, sse, views
from stigmer_actors.web.broadcast import Broadcasts
from stigmer_actors.web.fragments import Fragments

HERE = Path(__file__).resolve().parent
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Middleware = Callable[[WsgiApp], WsgiApp]


def create_app(engine: Engine, slots: sse.Slots) -> Flask:
    app = Flask("stigmer_actors.web", template_folder=str(HERE / "templates"),
                static_folder=str(HERE / "static"), static_url_path="/static")
    app.jinja_env.globals.update(PHASES=views.PHASES, phase_name=views.phase_name)
    app.jinja_env.filters["ago"] = views.ago
    core = engine.core
    counts = listing.PhaseCounts(core)

    def workflow_of(execution: Any) -> Any:
        """The compiled definition the run's workflow_id names (its latest version: an
        execution does not record the version it ran), or None."""
        name = execution.spec.workflow_id
        if not name:
            return None
        try:
            return engine.definitions.workflow(name)
        except EngineError:
            return None

    def render_live(snapshot: Snapshot) -> str:
        execution = snapshot.message()
        if snapshot.kind is kinds.AGENT:
            return app.jinja_env.get_template("_agent_live.html").render(
                x=views.summary(execution), a=views.agent_view(execution))
        return app.jinja_env.get_template("_workflow_live.html").render(
            x=views.summary(execution), w=views.workflow_view(execution, workflow_of(execution)))

    fragments = Fragments(render_live)
    broadcasts = Broadcasts(core, fragments.get)
    app.extensions["stigmer"] = {"fragments": fragments, "slots": slots, "broadcasts": broadcasts}
    row_template = app.jinja_env.get_template("_row.html")

    def row(event: Event) -> dict[str, Any]:
        assert event.snapshot is not None
        execution = event.message or event.snapshot.message()
        x = views.summary(execution)
        return {"type": event.type, "id": x["id"], "version": x["version"], "phase": x["phase"],
                "left_filter": event.left_filter, "deleted": event.type == DELETED,
                "html": "" if event.type == DELETED else row_template.render(x=x)}

    def query_of(args: Any) -> ExecutionFilter:
        phase = args.get("phase", "")
        wanted = []
        if phase:
            names = {name: value for value, name in views.PHASES}
            if phase.upper() not in names:
                raise InvalidArgument(f"phase {phase!r} is not one of {', '.join(names)}")
            wanted = [names[phase.upper()]]
        kind = args.get("kind") or None
        return ExecutionFilter.of(kind, wanted, args.get("session", ""), args.get("workflow", ""),
                                  [t for t in args.getlist("tag") if t])

    @app.errorhandler(InvalidArgument)
    def bad_request(error: InvalidArgument) -> tuple[str, int]:
        return render_template("error.html", title="Bad request", message=error.message), 400

    @app.errorhandler(NotFound)
    def not_found(error: NotFound) -> tuple[str, int]:
        return render_template("error.html", title="Not found", message=error.message), 404

    @app.get("/")
    def index() -> Any:
        return redirect("/executions")

    @app.get("/executions")
    def executions() -> str:
        query = query_of(request.args)
        token = core.feed.mark()  # before the list: the stream starts here
        number = request.args.get("page", "1")
        shown = listing.page(core, query, int(number) if number.isdigit() else 1)
        rows = [views.summary(s.message()) for s in shown.entries]
        args = {k: v for k, v in request.args.items() if k != "page" and v}
        kept = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "page" and v])
        return render_template("list.html", rows=rows, page=shown, counts=counts.get(query), args=args,
                               tags=request.args.getlist("tag"), token=token, query_string=kept)

    @app.get("/executions/<path:execution_id>")
    def execution(execution_id: str) -> str:
        snapshot = core.get(execution_id)
        x = views.summary(snapshot.message())
        template = "agent.html" if snapshot.kind is kinds.AGENT else "workflow.html"
        return render_template(template, x=x, live=Markup(fragments.get(snapshot)),
                               terminal=phases.is_terminal(snapshot.phase))

    @app.get("/workflows")
    def workflows() -> str:
        return render_template("definitions.html", definitions=engine.definitions.list())

    @app.get("/workflows/<name>")
    def workflow(name: str) -> str:
        number = request.args.get("version", "0")
        definition = engine.definitions.get(name, int(number) if number.isdigit() else 0)
        latest = engine.definitions.get(name).version
        drawing = views.definition_graph(engine.definitions.workflow(name, definition.version))
        return render_template("definition.html", d=definition, versions=range(latest, 0, -1),
                               graph=drawing, nodes={})

    @app.get("/events/executions")
    def list_stream() -> Response:
        query = query_of(request.args)
        since = request.headers.get("Last-Event-ID") or request.args.get("since", "")
        if not slots.take():
            return _busy(slots)
        return _stream(sse.list_events(core, slots, query, since, row, counts.get))

    @app.get("/events/executions/<path:execution_id>")
    def state_stream(execution_id: str) -> Response:
        if not slots.take():
            return _busy(slots)
        return _stream(sse.state_events(broadcasts, slots, execution_id))

    return app


def _stream(body: Any) -> Response:
    return Response(body, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _busy(slots: sse.Slots) -> Response:
    return Response(f"too many live connections (at most {slots.limit}); the page still works, "
                    "reload it for live updates later\n", status=503, mimetype="text/plain",
                    headers={"Retry-After": "10"})


def wsgi(engine: Engine, slots: sse.Slots, middlewares: Sequence[Middleware] = ()) -> tuple[WsgiApp, Fragments]:
    """The application behind ``middlewares`` (each wraps the ones before it), and its
    render cache (for figures and tests)."""
    flask_app = create_app(engine, slots)
    app: WsgiApp = flask_app.wsgi_app
    for wrap in middlewares:
        app = wrap(app)
    return app, flask_app.extensions["stigmer"]["fragments"]
