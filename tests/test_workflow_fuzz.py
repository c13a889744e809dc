"""Whatever a caller sends, loading and compiling a definition ends in a definition or in
DefinitionError / WorkflowInvalid (INVALID_ARGUMENT on the wire), never another exception
(INTERNAL with a traceback): random structures shaped like definitions, random values in
every field, random YAML text and random CEL text."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from stigmer_actors.runner import expressions
from stigmer_actors.runner.compiler import WorkflowInvalid, compile_workflow
from stigmer_actors.runner.ir import NODE_TYPES
from stigmer_actors.runner.policy import PythonModules
from stigmer_actors.runner.source import DefinitionError, load

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

IDS = st.sampled_from(["a", "b", "c", "Bad Id", ""])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(),
    st.text(max_size=12), IDS, st.dates(), st.binary(max_size=4),
)
ANY = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none()), inner, max_size=4),
    ),
    max_leaves=12,
)
# python targets are checked by name, within the allowed modules (HOOKS); nothing is imported
HOOKS = PythonModules(("tests.workflow_hooks",))
CALLS = st.sampled_from(["tests.workflow_hooks:echo", "tests.workflow_hooks:NOT_CALLABLE", ".foo:bar",
                         "tests.workflow_hooks:", ":x", "a..b:c", "tests.nope:x", "echo", "json:loads"])
DURATIONS = st.one_of(st.sampled_from(["1s", "500ms", "2m", "25h", "99999999999h", "1.5h", "0s", "-1s"]), ANY)
CEL = st.one_of(st.sampled_from(["true", "input.x > 1", "nodes.(", "'{{'", "(" * 40 + "1" + ")" * 40]), ANY)
TARGETS = st.one_of(IDS, st.lists(IDS, max_size=3), ANY)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, ANY)


PARAMS = {  # per node type, the parameters it reads, mostly well-typed
    "python": {"call": maybe(CALLS)},
    "http": {"url": maybe(st.sampled_from(["http://h/x", "ftp://h", "http://[::1", "{{ input.u }}"]))},
    "wait": {"for": DURATIONS},
    "transform": {"set": maybe(st.dictionaries(st.text(max_size=4), CEL, max_size=3))},
    "filter": {"items": CEL, "keep": CEL},
    "agent": {"message": maybe(st.just("hi {{ input.x }}"))},
}


def _node_of(node_type: str) -> st.SearchStrategy[Any]:
    params = st.fixed_dictionaries(PARAMS.get(node_type, {}), optional={"x": ANY, "note": CEL})
    return st.fixed_dictionaries({"id": maybe(IDS), "type": maybe(st.just(node_type))}, optional={
        "with": maybe(params),
        "timeout": DURATIONS,
        "retry": maybe(st.fixed_dictionaries({}, optional={"max_attempts": ANY, "backoff": DURATIONS, "tries": ANY})),
        "branch": maybe(st.fixed_dictionaries({}, optional={
            "rules": maybe(st.lists(maybe(st.fixed_dictionaries({}, optional={"when": CEL, "next": TARGETS})), max_size=3)),
            "default": TARGETS})),
        "loop": maybe(st.fixed_dictionaries({}, optional={
            "until": CEL, "back_to": TARGETS, "max_iterations": ANY, "on_exhausted": TARGETS})),
        "join": maybe(st.sampled_from(["all", "any"])),
        "description": ANY,
    })


NODES = st.sampled_from(NODE_TYPES).flatmap(_node_of)
DEFINITIONS = st.fixed_dictionaries({"name": maybe(st.just("fuzz")), "nodes": maybe(st.lists(maybe(NODES), max_size=4))},
                                    optional={
    "description": ANY,
    "input": ANY,
    "edges": maybe(st.lists(maybe(st.fixed_dictionaries({}, optional={"from": maybe(IDS), "to": maybe(IDS)})), max_size=5)),
})


@FUZZ
@given(DEFINITIONS)
def test_compiling_any_structure_compiles_or_is_refused(data: dict[str, Any]) -> None:
    try:
        workflow = compile_workflow(data, HOOKS)
    except WorkflowInvalid as refusal:
        assert refusal.problems and all(p.rule for p in refusal.problems)
        assert len(str(refusal)) < 4000  # it travels in a gRPC status
    else:
        assert workflow.nodes


@FUZZ
@given(ANY)
def test_compiling_any_value_compiles_or_is_refused(data: Any) -> None:
    try:
        compile_workflow(data)
    except WorkflowInvalid:
        pass


YAML_PIECES = st.sampled_from([
    "name: x\n", "nodes: ", "[", "]", "{", "}", ",", ": ", "- ", "\n", "  ", "&a ", "*a", "&b ", "*b", "<<: ",
    "!!binary ", "!!python/object:os.system ", "? ", "'", '"', "\\ud800", "2024-01-01", "99999999999999",
    "{id: a, type: noop}", "{{ x }}", "#", "---\n", "...\n", "%YAML 1.1\n", "!!set ", "!!omap ", "\t",
])


@FUZZ
@given(st.one_of(st.lists(YAML_PIECES, max_size=40).map("".join), st.text(max_size=200)))
def test_loading_any_text_loads_or_is_refused(text: str) -> None:
    try:
        data = load(text)
    except DefinitionError as refusal:
        assert str(refusal).endswith("]")  # names its rule
        return
    try:
        compile_workflow(data)
    except WorkflowInvalid:
        pass


@FUZZ
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["(", ")", "[", "]", "{", "}", ".", "a", "1", "'x'", "+", "-", "!", "?", ":", ",", "map(", "x,", " ", "\\", '"']),
    max_size=60).map("".join)))
def test_checking_any_cel_text_says_yes_or_why_not(text: str) -> None:
    complaint = expressions.check(text)
    assert complaint is None or isinstance(complaint, str)


def test_the_definition_strategy_also_builds_definitions_that_compile() -> None:
    """Else the fuzzing above would only ever exercise refusals."""
    def compiles(data: dict[str, Any]) -> bool:
        try:
            compile_workflow(data)
        except WorkflowInvalid:
            return False
        return True

    found = find(DEFINITIONS, compiles, settings=settings(max_examples=2000, deadline=None, database=None))
    assert compile_workflow(found).name == "fuzz"
