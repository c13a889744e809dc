"""``check_message``: the fast check (a plan per type, Structs walked only when big enough)
says exactly what a plain walk of every set field says, and its size shortcut is sound."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from stigmer_actors import wire
from stigmer_actors.domain.errors import InvalidArgument
from stigmer_actors.domain.validation import _DEEP_ENOUGH, MAX_STRUCT_DEPTH, check_message

STRUCTS = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}


def plain_walk(message: Message, path: str) -> str | None:
    """The reference: visit every set field, every element, every Struct level."""
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        if field.enum_type is not None:
            numbers = value if field.is_repeated else [value]
            for i, number in enumerate(numbers):
                if number not in field.enum_type.values_by_number:
                    index = f"[{i}]" if field.is_repeated else ""
                    return f"{name}{index} = {number} is not a defined {field.enum_type.name} value"
        elif field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                if field.message_type.fields_by_name["value"].message_type is None:
                    continue
                children = [(f"[{k!r}]", v) for k, v in value.items()]
            elif field.is_repeated:
                children = [(f"[{i}]", v) for i, v in enumerate(value)]
            else:
                children = [("", value)]
            for suffix, child in children:
                found = (depth_of(child) > MAX_STRUCT_DEPTH and
                         f"{name}{suffix} nests Struct values deeper than {MAX_STRUCT_DEPTH} levels"
                         if child.DESCRIPTOR.full_name in STRUCTS else plain_walk(child, f"{name}{suffix}"))
                if found:
                    return found
    return None


def depth_of(value: Message) -> int:
    """Struct levels: a Struct or list inside a Value is one more."""
    kind = value.DESCRIPTOR.name
    if kind == "Struct":
        return max((depth_of(v) for v in value.fields.values()), default=1)
    if kind == "ListValue":
        return max((depth_of(v) for v in value.values), default=1)
    inner = value.WhichOneof("kind")
    if inner == "struct_value":
        return 1 + depth_of(value.struct_value)
    if inner == "list_value":
        return 1 + depth_of(value.list_value)
    return 1


def fast_check(message: Message) -> str | None:
    try:
        check_message(message, "status")
    except InvalidArgument as error:
        return str(error)
    return None


def nested_lists(depth: int) -> wire.WorkflowExecutionStatus:
    """The most compact Struct of ``depth`` levels: ``{"": [[[...]]]}``."""
    status = wire.WorkflowExecutionStatus()
    level = status.output.fields[""]
    for _ in range(depth - 1):
        level = level.list_value.values.add()
    level.bool_value = False
    return status


def nested_structs(depth: int) -> wire.WorkflowExecutionStatus:
    status = wire.WorkflowExecutionStatus()
    level = status.output
    for _ in range(depth - 1):
        level = level.fields[""].struct_value
    level.fields[""].bool_value = False
    return status


@pytest.mark.parametrize("build", [nested_lists, nested_structs])
def test_the_size_shortcut_never_skips_a_struct_that_is_too_deep(build) -> None:
    """Structs under _DEEP_ENOUGH bytes are not walked: any too-deep one must be at least that big."""
    assert fast_check(build(MAX_STRUCT_DEPTH)) is None
    too_deep = build(MAX_STRUCT_DEPTH + 1)
    assert too_deep.output.ByteSize() >= _DEEP_ENOUGH
    assert fast_check(too_deep) == f"status.output nests Struct values deeper than {MAX_STRUCT_DEPTH} levels"
    assert fast_check(too_deep) == plain_walk(too_deep, "status")


def test_the_size_shortcut_holds_for_the_smallest_too_deep_value() -> None:
    """A Value child (a Struct's fields) nesting empty lists is the cheapest chain: 126 bytes
    at one level too deep, under 4 bytes a level, which an earlier bound assumed."""
    for nestings, too_deep in ((MAX_STRUCT_DEPTH - 1, False), (MAX_STRUCT_DEPTH, True)):
        struct = struct_pb2.Struct()
        level = struct.fields[""]
        for _ in range(nestings - 1):
            level = level.list_value.values.add()
        level.list_value.SetInParent()
        try:
            check_message(struct, "x")
            verdict = None
        except InvalidArgument as error:
            verdict = str(error)
        assert verdict == plain_walk(struct, "x")
        assert (verdict is not None) == too_deep, verdict
        if too_deep:
            assert struct.fields[""].ByteSize() >= _DEEP_ENOUGH


def json_values(depth: int) -> st.SearchStrategy:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(["", "a", "bb"]))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["", "k", "v"]), inner, max_size=2)),
        max_leaves=depth)


@st.composite
def chains(draw: st.DrawFn) -> object:
    """A value nested just under, at, or just over the limit: lists and dicts in any mix."""
    value: object = draw(st.sampled_from([None, 1, "x"]))
    for kind in draw(st.lists(st.sampled_from(["list", "dict"]), min_size=MAX_STRUCT_DEPTH - 3,
                              max_size=MAX_STRUCT_DEPTH + 2)):
        value = [value] if kind == "list" else {draw(st.sampled_from(["", "k"])): value}
    return value


enum_numbers = st.sampled_from([0, 1, 2, 1, 2, 1, 2, 9, 42])  # mostly defined


@st.composite
def workflow_statuses(draw: st.DrawFn) -> wire.WorkflowExecutionStatus:
    status = wire.WorkflowExecutionStatus(phase=draw(st.sampled_from([0, 1, 2, 3, 5, 7])))
    for i in range(draw(st.integers(0, 4))):
        task = status.tasks.add(task_id=f"t{i}", status=draw(enum_numbers), task_type=draw(enum_numbers))
        for name in ("input", "output", "metadata"):
            value = draw(st.one_of(st.none(), st.dictionaries(
                st.sampled_from(["a", "b"]), st.one_of(json_values(40), chains()), max_size=2)))
            if value is not None:
                getattr(task, name).update(value)
    if draw(st.booleans()):
        status.output.update({"deep": draw(st.one_of(json_values(80), chains()))})
    return status


@st.composite
def agent_statuses(draw: st.DrawFn) -> wire.AgentExecutionStatus:
    status = wire.AgentExecutionStatus(phase=draw(st.sampled_from([0, 1, 2, 3, 7])))
    for _ in range(draw(st.integers(0, 3))):
        status.messages.add(type=draw(enum_numbers), content="c")
    for i in range(draw(st.integers(0, 3))):
        status.tool_calls.add(id=f"c{i}", status=draw(enum_numbers))
    for key in draw(st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=3, unique=True)):
        status.todos[key].id = key
        status.todos[key].status = draw(enum_numbers)
    return status


@settings(max_examples=300, deadline=None)
@given(st.one_of(workflow_statuses(), agent_statuses()))
def test_the_fast_check_agrees_with_a_plain_walk(status: Message) -> None:
    assert fast_check(status) == plain_walk(status, "status")


def test_a_bad_value_deep_in_a_big_status_is_named_by_its_path() -> None:
    status = wire.WorkflowExecutionStatus()
    for i in range(1000):
        status.tasks.add(task_id=f"t{i}", status=3).output.update({"i": i})
    assert fast_check(status) is None
    deep: dict = {}
    level = deep
    for _ in range(MAX_STRUCT_DEPTH):
        level["in"] = {}
        level = level["in"]
    status.tasks[517].metadata.update(deep)
    assert fast_check(status) == f"status.tasks[517].metadata nests Struct values deeper than {MAX_STRUCT_DEPTH} levels"
    status.tasks[517].metadata.Clear()
    status.tasks[998].status = 11
    assert fast_check(status) == "status.tasks[998].status = 11 is not a defined WorkflowTaskStatus value"
