"""The pooled actor runtime (``stigmer_actors/runtime``): pykka's documented behaviour, on a
bounded pool, with caller-runs asks.

Each test makes its own ``Pool`` and closes it, so no thread outlives its test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pykka
import pytest

from stigmer_actors.runtime import Pool, PooledActor


@pytest.fixture
def pool() -> Iterator[Pool]:
    p = Pool(size=4, max_size=8, name="test-pool", stall_after=0.2)
    try:
        yield p
    finally:
        p.close()


class Recorder(PooledActor):
    """Records what it handled and in which thread; ``block`` messages wait on an event."""

    def __init__(self, pool: Pool, log: list | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.log = log if log is not None else []
        self.threads: list[str] = []

    def on_start(self) -> None:
        self.log.append("start")

    def on_stop(self) -> None:
        self.log.append("stop")

    def on_failure(self, *exc_info: object) -> None:
        self.log.append("failure")

    def on_receive(self, message: object) -> object:
        self.threads.append(threading.current_thread().name)
        if isinstance(message, threading.Event):
            message.wait(30)
            return "released"
        if message == "boom":
            raise ValueError("boom")
        self.log.append(message)
        return len(self.log)

    def count(self) -> int:  # reached through a proxy
        return len(self.log)


class Plain(PooledActor):
    """No on_start: it gets no turn until a message comes."""

    def __init__(self, pool: Pool) -> None:
        super().__init__()
        self.pool = pool

    def on_receive(self, message: object) -> object:
        return message


def test_a_ref_behaves_as_pykka_documents(pool: Pool) -> None:
    ref = Recorder.start(pool)
    assert isinstance(ref, pykka.ActorRef)
    assert ref.ask("a") == 2  # on_start ran first
    ref.tell("b")
    future = ref.ask("c", block=False)
    assert isinstance(future, pykka.Future) and future.get(timeout=5) == 4
    assert ref.proxy().count().get(timeout=5) == 4
    with pytest.raises(ValueError, match="boom"):  # an asker gets the exception...
        ref.ask("boom")
    assert ref.is_alive()  # ...and the actor lives on
    assert ref.stop() is True and not ref.is_alive()
    assert ref.stop() is False  # already dead, as pykka says
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late")
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")


def test_stop_handles_what_was_queued_first_and_refuses_what_comes_after(pool: Pool) -> None:
    log: list = []
    ref = Recorder.start(pool, log)
    gate = threading.Event()
    blocked = ref.ask(gate, block=False)  # keeps the actor busy while we queue behind it
    assert _eventually(lambda: ref._actor_weakref().threads)
    queued = [ref.ask(i, block=False) for i in range(5)]
    stopped = ref.stop(block=False)
    after = ref.ask("after", block=False)
    gate.set()
    assert blocked.get(timeout=5) == "released"
    assert [f.get(timeout=5) for f in queued] == [2, 3, 4, 5, 6]
    assert stopped.get(timeout=5) is True
    with pytest.raises(pykka.ActorDeadError):
        after.get(timeout=5)
    assert log == ["start", 0, 1, 2, 3, 4, "stop"]


def test_an_exception_from_a_tell_stops_the_actor_and_calls_on_failure(pool: Pool) -> None:
    log: list = []
    ref = Recorder.start(pool, log)
    ref.tell("boom")
    assert ref.actor_stopped.wait(5)
    assert log == ["start", "failure"]
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("x")


def test_an_ask_with_a_timeout_times_out(pool: Pool) -> None:
    ref = Recorder.start(pool)
    gate = threading.Event()
    ref.tell(gate)
    assert _eventually(lambda: ref._actor_weakref().threads)
    with pytest.raises(pykka.Timeout):
        ref.ask("x", timeout=0.2)  # busy: queued behind the gate, not run in this thread
    gate.set()
    ref.stop()


def test_an_idle_actor_is_asked_in_the_callers_own_thread(pool: Pool) -> None:
    """Caller-runs: no pool thread is woken for an uncontended ask."""
    ref = Plain.start(pool)
    for i in range(100):
        assert ref.ask(i) == i
    assert pool.threads == 0  # no turn ever went to the pool
    # An actor with on_start gets a first turn on the pool at once, as pykka starts actors;
    # once that turn is over, asks run in the caller again.
    actor = Recorder(pool)
    actor._start_actor_loop()
    assert _eventually(lambda: actor.log == ["start"] and actor.actor_inbox.state == "idle")
    assert actor.actor_ref.ask("x") == 2
    assert actor.threads == [threading.current_thread().name]
    ref.stop()
    actor.actor_ref.stop()


def test_contended_asks_keep_each_senders_order_and_lose_nothing(pool: Pool) -> None:
    """32 threads x 500 asks on one actor: every ask answered once, each sender's messages
    handled in the order sent, some turns drained by callers and some by the pool."""
    log: list = []
    ref = Recorder.start(pool, log)
    senders, per_sender = 32, 500
    replies: dict[int, list[int]] = {}

    def send(s: int) -> None:
        replies[s] = [ref.ask((s, i)) for i in range(per_sender)]

    threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    handled = [m for m in log if isinstance(m, tuple)]
    assert len(handled) == senders * per_sender
    for s in range(senders):
        mine = [i for sender, i in handled if sender == s]
        assert mine == list(range(per_sender))
        assert replies[s] == sorted(replies[s])  # each reply is the log length at that moment
    assert len(set().union(*replies.values())) == senders * per_sender  # no reply twice
    ref.stop()


def test_many_actors_share_a_bounded_pool(pool: Pool) -> None:
    """10,000 actors told concurrently: all handled, never more than the pool's threads."""
    before = threading.active_count()
    actors = [Plain.start(pool) for _ in range(10_000)]
    futures = [a.ask(i, block=False) for i, a in enumerate(actors)]
    assert [f.get(timeout=30) for f in futures] == list(range(10_000))
    assert threading.active_count() - before <= pool.max_size + 1  # + the stall monitor
    for future in [a.stop(block=False) for a in actors]:
        future.get(timeout=30)


def test_stuck_turns_do_not_starve_the_other_actors(pool: Pool) -> None:
    """Every core worker stuck in a handler that never returns (here: until released): the
    pool adds workers, so other actors are still served, within a bounded wait."""
    gate = threading.Event()
    stuck = [Recorder.start(pool) for _ in range(pool.size)]
    for ref in stuck:
        ref.tell(gate)
    assert _eventually(lambda: all(r._actor_weakref().threads for r in stuck))
    others = [Plain.start(pool) for _ in range(50)]
    began = time.monotonic()
    futures = [o.ask(i, block=False) for i, o in enumerate(others)]
    try:
        assert [f.get(timeout=10) for f in futures] == list(range(50))
        waited = time.monotonic() - began
        assert waited < 5, waited
        assert pool.added_for_stalls >= 1 and pool.threads <= pool.max_size
    finally:
        gate.set()
    print(f"\nall {pool.size} core workers stuck: 50 other actors served in {waited:.2f} s "
          f"({pool.added_for_stalls} workers added)")


def test_a_stalled_caller_holds_only_its_own_actor(pool: Pool) -> None:
    """An ask run in its caller's thread that never returns (a handler stuck there) keeps
    that one actor busy; asks to other actors, and other asks to it, are not stuck behind
    any pool thread: the others are answered, and the stuck actor's queue is served as soon
    as it is released."""
    gate = threading.Event()
    ref = Recorder.start(pool)
    ref.ask("warm")
    caller = threading.Thread(target=ref.ask, args=(gate,), daemon=True)
    caller.start()
    assert _eventually(lambda: len(ref._actor_weakref().threads) == 2)
    others = [Plain.start(pool) for _ in range(20)]
    assert [o.ask(i, block=False).get(timeout=5) for i, o in enumerate(others)] == list(range(20))
    behind = ref.ask("behind", block=False)
    with pytest.raises(pykka.Timeout):
        behind.get(timeout=0.2)
    gate.set()
    assert behind.get(timeout=5) == 3
    caller.join(5)


def _eventually(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)  # polling a condition with a deadline
    return False
