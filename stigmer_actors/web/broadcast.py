"""One subscription per watched execution, shared by every tab showing it.

However many tabs show an execution, its actor sees one watcher: a ``Channel``'s pump
thread takes the newest state at most every ``MIN_INTERVAL`` seconds (the subscription
coalesces what was written meanwhile), renders it once into a ready-to-send SSE frame, and
wakes the tabs, each of which sends that frame when its connection is ready. So 100 tabs
on a hot execution cost its writer what one watcher costs (nothing per update while the
pump is pacing: the watcher is parked), and the rendering is done once per state sent, not
once per tab. A channel closes with its last tab.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from loguru import logger

from stigmer_actors.core import Core
from stigmer_actors.messages.snapshot import Snapshot
from stigmer_actors.subscription import Subscription

MIN_INTERVAL = 0.1
"""Seconds between two states sent for one execution (10 a second at most)."""
RENDER_SHARE = 0.2
"""At most this share of the time goes to rendering one execution's states: after a render
that took ``t`` seconds the next waits at least ``t / RENDER_SHARE`` (a 1,000-task workflow
whose page took 0.5 s to render here is sent every 2.5 s)."""


def frame(data: str, event: str = "", event_id: str = "") -> bytes:
    """One SSE message (``data`` may span lines)."""
    head = (f"event: {event}\n" if event else "") + (f"id: {event_id}\n" if event_id else "")
    body = "".join(f"data: {line}\n" for line in data.split("\n"))
    return (head + body + "\n").encode()


class Channel:
    def __init__(self, subscription: Subscription, execution_id: str,
                 render: Callable[[Snapshot], str], on_idle: Callable[[Channel], None]) -> None:
        self.execution_id = execution_id
        self._subscription = subscription
        self._render = render
        self._on_idle = on_idle
        self._cond = threading.Condition()
        self._frame = b""
        self.version = 0
        """Of the newest frame; 0 before the first."""
        self.ended = False
        """No frame will follow the last one (terminal, deleted, or closed)."""
        self.tabs = 0
        threading.Thread(target=self._pump, name=f"sse-{execution_id}", daemon=True).start()

    def wait(self, after: int, timeout: float) -> tuple[bytes, int, bool] | None:
        """The newest frame once it is newer than version ``after`` (or the channel ended):
        (frame, version, ended); None after ``timeout`` seconds without one."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.version > after or self.ended, timeout):
                return None
            return self._frame if self.version > after else b"", self.version, self.ended

    def close(self) -> None:
        self._subscription.close()  # the pump's take returns: it ends the channel

    def _publish(self, data: bytes, version: int, ended: bool) -> None:
        with self._cond:
            self._frame, self.ended = data, ended
            self.version = max(version, self.version + 1) if ended else version
            self._cond.notify_all()

    def _pump(self) -> None:
        sent_at = 0.0
        pace = MIN_INTERVAL
        try:
            while True:
                try:
                    snapshot = self._subscription.next_snapshot()
                except StopIteration:
                    self._publish(frame("{}", "end"), self.version, True)
                    return
                wait = pace - (time.monotonic() - sent_at)
                if wait > 0 and not snapshot.final:
                    # A pace, not a wait for anything: states written meanwhile are
                    # coalesced by the subscription, and the newest is taken after it.
                    time.sleep(wait)
                    snapshot = _newest(self._subscription, snapshot)
                if snapshot.deleted:
                    reason = json.dumps({"reason": f"execution {self.execution_id} was deleted"})
                    self._publish(frame(reason, "gone"), snapshot.version, True)
                    return
                rendering = time.monotonic()
                payload = {"version": snapshot.version, "phase": snapshot.phase, "html": self._render(snapshot)}
                pace = max(MIN_INTERVAL, (time.monotonic() - rendering) / RENDER_SHARE)
                data = frame(json.dumps(payload), "state", str(snapshot.version))
                if snapshot.terminal:  # one frame with the end, so no tab can skip the terminal state
                    self._publish(data + frame("{}", "end"), snapshot.version, True)
                    return
                self._publish(data, snapshot.version, False)
                sent_at = time.monotonic()
        except Exception:  # a render that fails ends this channel, not the server
            logger.opt(exception=True).error("live stream of {eid} failed", eid=self.execution_id)
            self._publish(frame(json.dumps({"reason": "the server failed to render this execution"}), "gone"),
                          self.version, True)
        finally:
            self._subscription.close()
            self._on_idle(self)


def _newest(subscription: Subscription, snapshot: Snapshot) -> Snapshot:
    """``snapshot``, or a newer one the subscription already holds (without waiting)."""
    try:
        return subscription.next_snapshot(0)
    except (TimeoutError, StopIteration):
        return snapshot


class Broadcasts:
    """The open channels, by execution id."""

    def __init__(self, core: Core, render: Callable[[Snapshot], str]) -> None:
        self._core = core
        self._render = render
        self._lock = threading.Lock()
        self._channels: dict[str, Channel] = {}

    def join(self, execution_id: str) -> Channel:
        """The execution's channel (opened if needed), counted for one more tab; NOT_FOUND
        and the engine's other refusals are raised."""
        with self._lock:
            channel = self._channels.get(execution_id)
            if channel is None or channel.ended:
                subscription = self._core.subscribe(execution_id)
                channel = self._channels[execution_id] = Channel(subscription, execution_id, self._render,
                                                                 self._ended)
            channel.tabs += 1
            return channel

    def leave(self, channel: Channel) -> None:
        with self._lock:
            channel.tabs -= 1
            if channel.tabs > 0:
                return
            if self._channels.get(channel.execution_id) is channel:
                del self._channels[channel.execution_id]
        channel.close()

    def _ended(self, channel: Channel) -> None:
        with self._lock:
            if self._channels.get(channel.execution_id) is channel:
                del self._channels[channel.execution_id]

    @property
    def open(self) -> int:
        return len(self._channels)
