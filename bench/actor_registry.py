"""What pykka's global ActorRegistry and many live threads cost: the figures behind
``stigmer_actors/actors/base.py`` and the idle eviction in ``actors/registry.py``.

    python -m bench.actor_registry [--live 10000]

Measures, with 0 and then ``--live`` idle actors alive: one start+ask+stop cycle, and one
ask, for a plain pykka ThreadingActor (registered in the global list) and for this
project's UnregisteredActor. Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from pathlib import Path

import pykka

from stigmer_actors.actors.base import UnregisteredActor

RESULTS = Path(__file__).parent / "results"


class Registered(pykka.ThreadingActor):
    use_daemon_thread = True

    def on_receive(self, message: object) -> object:
        return message


class Unregistered(UnregisteredActor):
    def on_receive(self, message: object) -> object:
        return message


def cycle_us(cls: type[pykka.ThreadingActor], n: int = 300) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        ref = cls.start()
        ref.ask(1)
        ref.stop()
    return (time.perf_counter() - t0) / n * 1e6


def ask_us(ref: pykka.ActorRef, n: int = 3000) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        ref.ask(1)
    return (time.perf_counter() - t0) / n * 1e6


def measure(cls: type[pykka.ThreadingActor], live: int) -> dict:
    probe = cls.start()
    idle = {"cycle_us": round(cycle_us(cls)), "ask_us": round(ask_us(probe))}
    crowd = [cls.start() for _ in range(live)]
    busy = {"cycle_us": round(cycle_us(cls)), "ask_us": round(ask_us(probe))}
    for ref in [*crowd, probe]:
        ref.stop(block=False)
    for ref in [*crowd, probe]:
        ref.actor_stopped.wait()
    return {"0_live": idle, f"{live}_live": busy}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", type=int, default=10_000)
    args = parser.parse_args()
    result = {
        "pykka": metadata.version("pykka"),
        "registered": measure(Registered, args.live),
        "unregistered": measure(Unregistered, args.live),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"actor_registry-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
