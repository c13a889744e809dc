"""Definitions that froze or crashed the daemon at apply, and the bounds that refuse them
(``runner/limits.py``): each sent over gRPC to a real ``serve`` in a subprocess, each
refused with INVALID_ARGUMENT and the exact message naming its rule, and after each the
daemon still serves and still holds what it had acknowledged before.

Before these bounds: a 260-byte YAML alias bomb was accepted after expanding to 531,441
values (the issue's 441-byte one froze the daemon 20 s and kept ~1 GB); a self-referencing
alias, a relative module name, a branch or loop target written as a mapping and a
2,500-node chain (recursion) got INTERNAL with a traceback in the log; 1,000 problems made
a status too big for gRPC's trailers (the client saw RESOURCE_EXHAUSTED, "Stream removed").
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import grpc
import pytest

from stigmer_actors.client import StigmerClient
from stigmer_actors.domain import phases
from tests.daemon import Daemon

KEPT = "name: kept\nnodes: [{id: a, type: noop}]\n"
ONE = "name: x\nnodes: [{id: a, type: noop%s}]\n"
PREFIX = "workflow definition: "
ONE_PROBLEM = PREFIX + "1 problem(s):\n"


def _bomb() -> str:
    """A 'billion laughs': six levels of nine aliases, 9**6 = 531,441 values in 260 bytes."""
    levels = ["  a: &a [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, 6):
        prev, name = chr(96 + i), chr(97 + i)
        levels.append(f"  {name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "input:\n" + "\n".join(levels) + "\nname: bomb\nnodes: [{id: a, type: noop}]\n"


def _chain(n: int) -> str:
    nodes = "".join(f"  - {{id: n{i}, type: noop}}\n" for i in range(n))
    edges = "".join(f"  - {{from: n{i}, to: n{i + 1}}}\n" for i in range(n - 1))
    return f"name: chain\nnodes:\n{nodes}edges:\n{edges}"


def _loops(n: int) -> str:
    nodes = "".join(f"  - {{id: n{i}, type: noop, loop: {{until: 'true', back_to: n{i}, max_iterations: 2}}}}\n"
                    for i in range(n))
    return f"name: loops\nnodes:\n{nodes}"


CASES = [
    ("alias bomb", _bomb(),
     PREFIX + "more than 50,000 values, counting each alias as what it repeats [values]"),
    ("alias repeating a long string",
     "name: s\ninput:\n  a: &s '" + "x" * 100_000 + "'\n  b: [*s, *s, *s, *s, *s, *s, *s, *s, *s, *s]\n"
     "nodes: [{id: a, type: noop}]\n",
     PREFIX + "more than 1,048,576 characters of values, counting each alias as what it repeats [values]"),
    ("self-referencing alias", "name: x\nnodes: &n [{id: a, type: noop, with: {x: *n}}]\n",
     PREFIX + "alias *n (line 2) is inside the value it refers to: a recursive structure [aliases]"),
    ("self-referencing mapping", "name: x\ninput: &i {a: *i}\nnodes: [{id: a, type: noop}]\n",
     PREFIX + "alias *i (line 2) is inside the value it refers to: a recursive structure [aliases]"),
    ("source too big", KEPT + "# " + "x" * 300_000 + "\n",
     PREFIX + "the text is 300,043 bytes, more than the limit of 262,144 [size]"),
    ("nested too deep", "[" * 60_000 + "]" * 60_000,
     PREFIX + "nested more than 32 levels deep (line 1) [depth]"),
    ("integer of 5,000 digits", ONE % (", with: {n: " + "9" * 5000 + "}"),
     PREFIX + "not valid YAML or JSON: Exceeds the limit (4300 digits) for integer string conversion: "
     "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit [yaml]"),
    ("relative module", ONE.replace("noop", "python") % ", with: {call: '.foo:bar'}",
     ONE_PROBLEM + "node a: call '.foo:bar' must be module:function "
     "(an absolute module path and a public name, such as mypkg.hooks:page) [python]"),
    ("python call not a string", ONE.replace("noop", "python") % ", with: {call: 5}",
     ONE_PROBLEM + "node a: call 5 must be module:function (an absolute module path and a public name, such as mypkg.hooks:page) [python]"),
    ("branch next a mapping",
     "name: x\nnodes: [{id: a, type: noop, branch: {rules: [{when: 'true', next: {b: c}}]}}, {id: b, type: noop}]\n",
     ONE_PROBLEM + "node a: branch rule 1 next must be a node id or a list of node ids, not {'b': 'c'} [reference]"),
    ("branch default a mapping",
     "name: x\nnodes: [{id: a, type: noop, branch: {default: {b: c}}}, {id: b, type: noop}]\n",
     ONE_PROBLEM + "node a: branch default must be a node id or a list of node ids, not {'b': 'c'} [reference]"),
    ("branch rules not a list", "name: x\nnodes: [{id: a, type: noop, branch: {rules: 5}}, {id: b, type: noop}]\n",
     ONE_PROBLEM + "node a: branch rules must be a list of {when, next} [branch]"),
    ("loop back_to a mapping",
     "name: x\nnodes: [{id: a, type: noop, loop: {until: 'true', back_to: {b: c}, max_iterations: 2}}, {id: b, type: noop}]\n",
     ONE_PROBLEM + "node a: loop back_to must be a node id, not {'b': 'c'} [reference]"),
    ("loop back_to a list",
     "name: x\nnodes: [{id: a, type: noop, loop: {until: 'true', back_to: [a], max_iterations: 2}}]\n",
     ONE_PROBLEM + "node a: loop back_to must be a node id, not ['a'] [reference]"),
    ("on_exhausted a mapping",
     "name: x\nnodes: [{id: a, type: noop, loop: {until: 'true', back_to: a, max_iterations: 2, "
     "on_exhausted: {b: 1}}}, {id: b, type: noop}]\n",
     ONE_PROBLEM + "node a: loop on_exhausted must be a node id or a list of node ids, not {'b': 1} [reference]"),
    ("integer key", "name: x\nnodes: [{id: a, type: transform, with: {set: {1: 'true'}}}]\n",
     ONE_PROBLEM + "workflow: at nodes[0].with.set: key 1 is not a string (quote it) [definition]"),
    ("boolean key (YAML's on)", ONE % ", with: {on: 1}",
     ONE_PROBLEM + "workflow: at nodes[0].with: key True is not a string (quote it) [definition]"),
    ("a YAML date", ONE % ", with: {day: 2024-01-01}",
     ONE_PROBLEM + "workflow: at nodes[0].with.day: a date is not JSON data (quote it to make it a string) [definition]"),
    ("binary", ONE % ", with: {b: !!binary aGVsbG8=}",
     ONE_PROBLEM + "workflow: at nodes[0].with.b: binary data is not JSON data (quote it to make it a string) [definition]"),
    ("integer beyond 64 bits", ONE % ", with: {n: 18446744073709551616}",
     ONE_PROBLEM + "workflow: at nodes[0].with.n: integer 18446744073709551616 does not fit in 64 bits [definition]"),
    ("lone surrogate", ONE % ', with: {s: "\\ud800"}',
     ONE_PROBLEM + "workflow: at nodes[0].with.s: the string is not Unicode text (a lone surrogate escape) [definition]"),
    ("node timeout beyond its bound", ONE % ", timeout: 99999999999h",
     ONE_PROBLEM + "node a: timeout: 99999999999h is longer than 24h, the most it may be [duration]"),
    ("backoff beyond its bound", ONE % ", retry: {max_attempts: 2, backoff: 2h}",
     ONE_PROBLEM + "node a: retry.backoff: 2h is longer than 1h, the most it may be [duration]"),
    ("wait beyond its bound", ONE.replace("noop", "wait") % ", with: {for: 25h}",
     ONE_PROBLEM + "node a: with.for: 25h is longer than 24h, the most it may be [duration]"),
    ("too many digits for a duration", ONE % ", timeout: 9999999999999h",
     ONE_PROBLEM + "node a: timeout: '9999999999999h' is not a duration (write 500ms, 0.3s, 10s, 2m or 1h) [duration]"),
    ("max_attempts beyond its bound", ONE % ", retry: {max_attempts: 1000}",
     ONE_PROBLEM + "node a: max_attempts must be an integer from 1 to 100, not 1000 [retry]"),
    ("max_iterations beyond its bound", ONE % ", loop: {until: 'true', back_to: a, max_iterations: 5000}",
     ONE_PROBLEM + "node a: max_iterations must be an integer from 1 to 1,000, not 5000 [loop]"),
    ("a misspelt retry field", ONE % ", retry: {max_attempt: 3}",
     ONE_PROBLEM + "node a: unknown field 'retry.max_attempt' [node-field]"),
    ("too many nodes (and too deep for the old recursive cycle check)", _chain(2_500),
     ONE_PROBLEM + "workflow: 2,500 nodes, more than the limit of 2,000 [size]"),
    ("too many loops", _loops(51), ONE_PROBLEM + "workflow: 51 loop nodes, more than the limit of 50 [size]"),
    ("id too long", "name: x\nnodes: [{id: " + "a" * 100 + ", type: noop}]\n",
     ONE_PROBLEM + "node " + "a" * 57 + "...: id is 100 characters long (at most 64) [node-id]"),
    ("IPv6 url never closed", ONE.replace("noop", "http") % ", with: {url: 'http://[::1'}",
     ONE_PROBLEM + "node a: url 'http://[::1' is not an http(s) URL with a host [http]"),
    ("CEL nested too deep", ONE.replace("noop", "transform") % (", with: {set: {x: '" + "(" * 20 + "1" + ")" * 20 + "'}}"),
     ONE_PROBLEM + "node a: with.set.x: '((((((((((((((((((((1))))))))))))))))))))' nests 210 levels deep "
     "in its syntax tree (at most 150) [cel]"),
    ("CEL too long", ONE.replace("noop", "transform") % (", with: {set: {x: '" + "1 + " * 300 + "1'}}"),
     ONE_PROBLEM + "node a: with.set.x: '1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + ... "
     "is 1,201 characters long (at most 1,000) [cel]"),
    ("too much CEL in all",
     "name: x\nnodes:\n" + "".join(f"  - {{id: n{i}, type: transform, with: {{set: {{x: '[" + "1," * 480
                                   + f"1].size() > {i}'}}}}}}\n" for i in range(40)),
     ONE_PROBLEM + "workflow: more than 32,768 characters of distinct CEL expressions and templates [cel]"),
    ("a thousand problems",
     "name: x\nnodes:\n" + "".join(f"  - {{id: n{i}, type: wait}}\n" for i in range(1000)),
     PREFIX + "1000 problem(s):\n" + "".join(f"node n{i}: a wait node needs with.for [params]\n" for i in range(10))
     + "... and 990 more"),
]


def stop(daemon: Daemon) -> int:
    """SIGTERM the daemon and return its exit code; kill it if it does not stop (a failing
    test must not leave a daemon behind, burning CPU)."""
    try:
        return daemon.terminate(timeout=20)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait(10)
        raise


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, StigmerClient, str]]:
    """One daemon for every case, holding a definition and an execution from before them."""
    d = Daemon(tmp_path_factory.mktemp("limits") / "data", "--no-runner",
               "--pending-timeout", "0", "--heartbeat-timeout", "0")
    client = StigmerClient(d.address, timeout=60)
    try:
        client.apply_workflow(KEPT)
        before = client.create_workflow(workflow_id="kept").metadata.id
        yield d, client, before
    finally:
        client.close()
        assert stop(d) == 0
        assert not any("Traceback" in line for line in d.log), "".join(d.log)[-5000:]


@pytest.mark.parametrize("source,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_malformed_definition_is_refused_with_its_rule(
    daemon: tuple[Daemon, StigmerClient, str], source: str, expected: str
) -> None:
    d, client, before = daemon
    with pytest.raises(grpc.RpcError) as info:
        client.apply_workflow(source)
    assert (info.value.code(), info.value.details()) == (grpc.StatusCode.INVALID_ARGUMENT, expected)
    assert d.proc.poll() is None
    assert client.workflow_definition("kept").version == 1  # what was acknowledged is still there
    assert client.get(before).status.phase == phases.PENDING
    assert [w.name for w in client.workflow_definitions()] == ["kept"]  # nothing half-stored


def test_a_definition_at_the_bounds_applies(daemon: tuple[Daemon, StigmerClient, str]) -> None:
    """2,000 nodes in a chain (the old recursive cycle check overflowed the stack long
    before), 50 loops, 1h backoff, 24h timeout, 100 attempts, 1,000 iterations: all fine."""
    _, client, _ = daemon
    applied = client.apply_workflow(_chain(2_000)).definition
    assert (applied.name, applied.version) == ("chain", 1)
    assert client.apply_workflow(_loops(50)).definition.name == "loops"
    edge = ONE % (", timeout: 24h, retry: {max_attempts: 100, backoff: 1h}, "
                  "loop: {until: 'true', back_to: a, max_iterations: 1000}")
    assert client.apply_workflow(edge.replace("name: x", "name: edge")).definition.version == 1


def test_the_bounds_are_counted_after_alias_expansion_not_before() -> None:
    """Aliases that stay small are fine (and what they repeat is in the compiled IR)."""
    from stigmer_actors.runner.compiler import compile_workflow
    from stigmer_actors.runner.source import load

    workflow = compile_workflow(load(
        "name: reuse\nnodes:\n  - {id: a, type: noop, retry: &r {max_attempts: 3, backoff: 1s}}\n"
        "  - {id: b, type: noop, retry: *r}\nedges: [{from: a, to: b}]\n"))
    assert workflow.node("b").retry.max_attempts == 3 and workflow.node("b").retry.backoff == 1.0


def test_the_bound_on_values_counts_what_aliases_repeat() -> None:
    """Either side of the bound: 9**4 = 6,561 values pass; one level more, 59,049, does not."""
    from stigmer_actors.runner.source import DefinitionError, load

    def nest(levels: int) -> str:
        lines = ["  a: &a [x,x,x,x,x,x,x,x,x]"]
        for i in range(1, levels):
            lines.append(f"  {chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
        return "input:\n" + "\n".join(lines) + "\nname: n\nnodes: [{id: a, type: noop}]\n"

    assert len(load(nest(4))["input"]["d"][0][0][0]) == 9
    with pytest.raises(DefinitionError, match=r"^more than 50,000 values, counting each alias as what it repeats"):
        load(nest(5))
