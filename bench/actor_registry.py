"""What pykka's global ActorRegistry and a thread per actor cost, next to this project's
PooledActor (``stigmer_actors/runtime/``: no thread, no global registry, caller-runs asks).

    python -m bench.actor_registry [--live 10000]

Measures, with 0 and then ``--live`` idle actors alive: one start+ask+stop cycle, and one
ask, for a plain pykka ThreadingActor (a thread each, registered in the global list) and for
a PooledActor. Writes JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata
from pathlib import Path

import pykka

from stigmer_actors.runtime import PooledActor

RESULTS = Path(__file__).parent / "results"


class Registered(pykka.ThreadingActor):
    use_daemon_thread = True

    def on_receive(self, message: object) -> object:
        return message


class Pooled(PooledActor):
    def on_receive(self, message: object) -> object:
        return message


def cycle_us(cls: type[pykka.Actor], n: int = 300) -> float:
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


def measure(cls: type[pykka.Actor], live: int) -> dict:
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
        "pooled": measure(Pooled, args.live),
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"actor_registry-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
