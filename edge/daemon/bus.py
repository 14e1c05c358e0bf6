"""The event bus: the one bounded queue between the pipelines and the sinks.

When it is full the oldest event is dropped and counted. Its thread writes each event to every
sink; a sink that fails counts its own drops. A reload swaps the sinks without losing the queue.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from edge.events import AffectEvent

log = logging.getLogger(__name__)


class EventBus:
    """Pipelines -> sinks through one bounded queue (the oldest dropped when full)."""

    def __init__(self, sinks: list, limit: int) -> None:
        self.sinks = sinks
        self.dropped = 0
        self.delivered = 0
        self.per_modality: dict[str, int] = {}
        self._queue: deque[AffectEvent] = deque(maxlen=limit)
        self._cv = threading.Condition()
        self._delivering = threading.Lock()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="event-bus", daemon=True)
        self._thread.start()

    def publish(self, event: AffectEvent) -> None:
        with self._cv:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1  # the append pushes the oldest out
            self._queue.append(event)
            self.per_modality[event.modality] = self.per_modality.get(event.modality, 0) + 1
            self._cv.notify()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stopping:
                    self._cv.wait(0.5)
                if not self._queue and self._stopping:
                    return
                event = self._queue.popleft()
            with self._delivering:
                for sink in self.sinks:
                    try:
                        sink.write(event)
                    except Exception as exc:
                        sink.dropped = getattr(sink, "dropped", 0) + 1
                        log.warning("sink %s failed: %s", type(sink).__name__, exc)
                self.delivered += 1

    def swap(self, sinks: list, limit: int) -> None:
        """Deliver to `sinks` from the next event on (a reload); once this returns, no event is
        being written to the sinks it replaced. The queue takes the new `limit`, keeping the
        newest events (the others counted as dropped)."""
        with self._delivering, self._cv:
            self.sinks = list(sinks)
            if limit != self._queue.maxlen:
                self.dropped += max(0, len(self._queue) - limit)
                self._queue = deque(self._queue, maxlen=limit)

    def stop(self, timeout_s: float = 1.5) -> None:
        """Deliver what waits (within `timeout_s`), then stop the thread."""
        with self._cv:
            self._stopping = True
            self._cv.notify()
        self._thread.join(timeout_s)
