"""The workflow compiler: every rule of WORKFLOWS.md's "Compilation", each with the exact
error, all errors of a file reported at once, and the IR a valid file compiles to."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from stigmer_actors.runner.compiler import WorkflowInvalid
from stigmer_actors.runner.compiler import compile_workflow as compile_any
from stigmer_actors.runner.policy import PythonModules
from stigmer_actors.runner.source import DefinitionError, load

HOOKS = PythonModules(("tests.workflow_hooks",))
"""What these definitions' python nodes call: allowed as an operator would allow it."""


def compile_workflow(data: Any) -> Any:
    return compile_any(data, HOOKS)

TRIAGE = """
name: ticket-triage
input: {priority: normal}
nodes:
  - id: fetch
    type: http
    with: {method: GET, url: "http://127.0.0.1:8080/tickets/{{ input.ticket_id }}"}
    timeout: 10s
    retry: {max_attempts: 3, backoff: 0.5s}
  - id: classify
    type: transform
    with: {set: {severity: "nodes.fetch.output.body.severity"}}
  - id: route
    type: noop
    branch:
      rules:
        - when: "nodes.classify.output.severity == 'high'"
          next: [page]
      default: [file]
  - id: page
    type: python
    with: {call: "tests.workflow_hooks:echo"}
  - id: file
    type: python
    with: {call: "tests.workflow_hooks:echo"}
  - id: done
    type: aggregate
edges:
  - {from: fetch, to: classify}
  - {from: classify, to: route}
  - {from: page, to: done}
  - {from: file, to: done}
"""


def base() -> dict[str, Any]:
    return load(TRIAGE)


def node(d: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in d["nodes"] if n["id"] == node_id)


def test_the_spec_example_compiles_to_its_ir() -> None:
    w = compile_workflow(base())
    assert w.name == "ticket-triage"
    assert w.entries == ("fetch",) and w.terminals == ("done",)
    done, route, fetch = w.node("done"), w.node("route"), w.node("fetch")
    assert done.join == "all" and set(done.incoming) == {"page", "file"}  # default join
    assert route.branch is not None and route.branch.rules[0].next == ("page",)
    assert route.branch.default == ("file",) and route.edges_out == ()
    assert not route.terminal  # its ways out are the branch targets
    assert fetch.timeout == 10.0 and fetch.retry.max_attempts == 3 and fetch.retry.backoff == 0.5
    assert [n.task_type for n in w.nodes] == [
        "API_CALL", "TRANSFORM", "CONDITIONAL", "CUSTOM", "CUSTOM", "PARALLEL"]
    assert fetch.params()["url"].endswith("{{ input.ticket_id }}")
    assert json.loads(w.input_defaults) == {"priority": "normal"}


def test_ir_is_immutable_hashable_and_its_hash_follows_the_definition() -> None:
    a, b = compile_workflow(base()), compile_workflow(base())
    assert hash(a) == hash(b) and a.ir_hash == b.ir_hash and len(a.ir_hash) == 64
    with pytest.raises(AttributeError):
        a.nodes[0].type = "noop"  # type: ignore[misc]
    changed = base()
    node(changed, "fetch")["timeout"] = "11s"
    assert compile_workflow(changed).ir_hash != a.ir_hash


def test_json_definitions_load_too() -> None:
    assert compile_workflow(load(json.dumps(base()))).ir_hash == compile_workflow(base()).ir_hash


def test_a_file_that_is_not_a_definition() -> None:
    with pytest.raises(DefinitionError, match="not valid YAML or JSON"):
        load("nodes: [unclosed")
    with pytest.raises(DefinitionError, match="a workflow definition is a mapping"):
        load("- just a list")


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A mutation: set ``node_id.key`` (or a top-level key) to ``value``."""
    def mutate(d: dict) -> None:
        where, _, key = path.rpartition(".")
        (node(d, where) if where else d)[key] = value
    return mutate


def _edge(src: str, dst: str) -> Callable[[dict], None]:
    return lambda d: d["edges"].append({"from": src, "to": dst})


def _add(extra: dict) -> Callable[[dict], None]:
    return lambda d: d["nodes"].append(extra)


RULES = [
    ("name missing", _set("name", ""),
     "workflow: name is missing (executions refer to it by name) [definition]"),
    ("nodes missing", _set("nodes", []),
     "workflow: nodes must be a list of at least one node [definition]"),
    ("input not a mapping", _set("input", [1]),
     "workflow: input must be a mapping of default values [definition]"),
    ("bad id", _add({"id": "Bad Id", "type": "noop"}),
     "node Bad Id: id must match [a-z0-9_-]+ [node-id]"),
    ("duplicate id", _add({"id": "done", "type": "noop"}),
     "node done: id is used by more than one node [node-id]"),
    ("node without id", _add({"type": "noop"}), "workflow: nodes[6] has no id [node-id]"),
    ("unknown field", _set("fetch.retries", 3), "node fetch: unknown field 'retries' [node-field]"),
    ("unknown type", _set("done.type", "lambda"),
     "node done: type 'lambda' is not one of noop, transform, filter, aggregate, python, http, wait, agent [node-type]"),
    ("missing params", _set("classify.with", {}), "node classify: a transform node needs with.set [params]"),
    ("edge to nowhere", _edge("done", "nope"), "node done: edge done -> nope: no node nope [edge]"),
    ("edge from nowhere", _edge("nope", "done"), "workflow: edge nope -> done: no node nope [edge]"),
    ("branch target", _set("route.branch", {"rules": [{"when": "true", "next": ["nope"]}], "default": ["file"]}),
     "node route: branch rule 1 next names 'nope': no such node [reference]"),
    ("loop back_to", _set("classify.loop", {"until": "true", "back_to": "nope", "max_iterations": 2}),
     "node classify: loop back_to names 'nope': no such node [reference]"),
    ("on_exhausted", _set("classify.loop", {"until": "true", "back_to": "fetch", "max_iterations": 2,
                                            "on_exhausted": ["nope"]}),
     "node classify: loop on_exhausted names 'nope': no such node [reference]"),
    ("cycle", _edge("classify", "fetch"),
     "node fetch: cycle fetch -> classify -> fetch (only a loop's back_to may go back) [cycle]"),
    ("bad CEL in set", _set("classify.with", {"set": {"severity": "nodes.("}}), "node classify: with.set.severity: 'nodes.(' does not parse"),
    ("bad CEL in template", _set("fetch.with", {"url": "http://h/{{ input. }}"}),
     "node fetch: a {{ }} template: 'input.' does not parse"),
    ("bad CEL in branch", _set("route.branch", {"rules": [{"when": "==", "next": ["page"]}], "default": ["file"]}),
     "node route: branch rule 1 when: '==' does not parse"),
    ("CEL not a string", _set("classify.with", {"set": {"severity": 3}}),
     "node classify: with.set.severity must be a CEL expression (a string) [cel]"),
    ("python module not allowed", _set("page.with", {"call": "json:loads"}),
     "node page: call json:loads: json is not within --python-modules tests.workflow_hooks; add it there "
     "to allow it [python]"),
    ("python parent of an allowed module", _set("page.with", {"call": "tests:anything"}),
     "node page: call tests:anything: tests is not within --python-modules tests.workflow_hooks"),
    ("python private name", _set("page.with", {"call": "tests.workflow_hooks:_hidden"}),
     "node page: call 'tests.workflow_hooks:_hidden' must be module:function (an absolute module path "
     "and a public name, such as mypkg.hooks:page) [python]"),
    ("python malformed", _set("page.with", {"call": "echo"}), "node page: call 'echo' must be module:function (an absolute module path and a public name, such as mypkg.hooks:page) [python]"),
    ("http url", _set("fetch.with", {"url": "ftp://h/x"}),
     "node fetch: url 'ftp://h/x' is not an http(s) URL with a host [http]"),
    ("duration", _set("fetch.timeout", "10 seconds"),
     "node fetch: timeout: '10 seconds' is not a duration (write 500ms, 0.3s, 10s, 2m or 1h) [duration]"),
    ("retry", _set("fetch.retry", {"max_attempts": 0}),
     "node fetch: max_attempts must be an integer from 1 to 100, not 0 [retry]"),
    ("loop limit", _set("classify.loop", {"until": "true", "back_to": "fetch", "max_iterations": 0}),
     "node classify: max_iterations must be an integer from 1 to 1,000, not 0 [loop]"),
    ("loop incomplete", _set("classify.loop", {"until": "true"}), "node classify: loop needs until and back_to [loop]"),
    ("join", _set("done.join", "some"), "node done: join must be all or any, not 'some' [join]"),
    ("branch rule", _set("route.branch", {"rules": [{"next": ["page"]}], "default": ["file"]}),
     "node route: branch rule 1 needs when and next [branch]"),
    ("branch empty", _set("route.branch", {}), "node route: branch needs rules and/or a default [branch]"),
]


@pytest.mark.parametrize("mutate,expected", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_each_rule_names_the_node_and_the_rule(mutate: Callable[[dict], None], expected: str) -> None:
    d = base()
    mutate(d)
    with pytest.raises(WorkflowInvalid) as info:
        compile_workflow(d)
    messages = [str(p) for p in info.value.problems]
    assert any(m.startswith(expected) for m in messages), messages


def test_no_entry_and_no_terminal_are_reported() -> None:
    d = {"name": "ring", "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
         "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]}
    with pytest.raises(WorkflowInvalid) as info:
        compile_workflow(d)
    assert [str(p) for p in info.value.problems] == [
        "workflow: no entry node: every node has an incoming path [entry]",
        "workflow: no terminal node: every node has a way out [terminal]",
        "node a: cycle a -> b -> a (only a loop's back_to may go back) [cycle]",
    ]


def test_a_loop_back_to_is_the_one_legal_cycle() -> None:
    d = base()
    node(d, "classify")["loop"] = {"until": "output.severity != ''", "back_to": "fetch",
                                   "max_iterations": 3, "on_exhausted": ["file"]}
    w = compile_workflow(d)
    loop = w.node("classify").loop
    assert loop is not None and (loop.back_to, loop.max_iterations, loop.on_exhausted) == ("fetch", 3, ("file",))
    assert w.node("fetch").entry  # back_to does not count as an incoming path


def test_every_problem_is_reported_at_once() -> None:
    d = base()
    node(d, "fetch")["timeout"] = "soon"
    node(d, "classify")["with"] = {"set": {"severity": "nodes.("}}
    d["edges"].append({"from": "done", "to": "ghost"})
    node(d, "done")["join"] = "most"
    with pytest.raises(WorkflowInvalid) as info:
        compile_workflow(copy.deepcopy(d))
    rules = sorted(p.rule for p in info.value.problems)
    assert rules == ["cel", "duration", "edge", "join"]
    assert str(info.value).startswith("4 problem(s):\n")


def _loop_workflow(extra_nodes: str, extra_edges: str) -> dict[str, Any]:
    return load(f"""
name: loops
nodes:
  - {{id: start, type: noop}}
  - {{id: body, type: noop}}
  - id: check
    type: noop
    loop: {{until: "true", back_to: body, max_iterations: 3}}
{extra_nodes}
edges:
  - {{from: start, to: body}}
  - {{from: body, to: check}}
{extra_edges}
""")


def test_nested_loops_are_refused() -> None:
    data = _loop_workflow(
        '  - id: inner\n    type: noop\n    loop: {until: "true", back_to: inner, max_iterations: 2}',
        "  - {from: body, to: inner}\n  - {from: inner, to: check}",
    )
    with pytest.raises(WorkflowInvalid) as caught:
        compile_workflow(data)
    assert [str(p) for p in caught.value.problems] == [
        "node check: its body holds loop inner: nested loops are not supported [loop]"]


def test_a_loop_body_node_reached_from_outside_is_refused() -> None:
    data = _loop_workflow(
        "  - {id: side, type: noop}\n  - {id: mid, type: noop, join: all}",
        "  - {from: start, to: side}\n  - {from: side, to: mid}\n  - {from: body, to: mid}\n"
        "  - {from: mid, to: check}",
    )
    with pytest.raises(WorkflowInvalid) as caught:
        compile_workflow(data)
    assert [str(p) for p in caught.value.problems] == [
        "node mid: is in the body of loop check and also reached from side outside it: "
        "from the second iteration on it would wait for side forever [loop]"]
