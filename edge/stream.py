"""The one stream runner: a source's frames through a pipeline, its events to sinks.

Every stream in affect-edge is driven here: `affect-edge run`, each daemon worker, the demo,
evaluation and the tests. `run(source, pipeline, sinks)` reads frames until the source ends (a
file), a limit is reached (`max_frames`, `duration_s`) or it is told to stop (`stop`, SIGINT,
SIGTERM); whichever way it ends, the source is stopped, the pipeline flushed (its last events
delivered) and every sink closed, so what was seen before a Ctrl-C is kept: summaries, annotated
videos, plots and output files.

Pacing to the wall clock is one wrapper, `Paced`, around any source: a frame is handed over when
its last sample would have been captured, at `speed` times real time.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from devices.frame import Frame
from edge.events import AffectEvent

log = logging.getLogger(__name__)

#: How long a live source's read waits before the runner looks at its stop conditions again.
READ_TIMEOUT_S = 0.5


class Sink(Protocol):
    def write(self, event: AffectEvent) -> None: ...

    def close(self) -> None: ...


class EventList:
    """A sink that keeps every event in `events` (what the CLI and the tests summarise)."""

    def __init__(self) -> None:
        self.events: list[AffectEvent] = []

    def write(self, event: AffectEvent) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


@dataclass
class StreamResult:
    """How a stream went: frames read, events delivered, and why it ended."""

    frames: int = 0
    events: int = 0
    #: The source ended by itself (the end of a file).
    ended: bool = False
    #: Stopped by SIGINT/SIGTERM, a KeyboardInterrupt or the `stop` event.
    interrupted: bool = False
    #: The signal that stopped it, where one did.
    signal: int | None = None


class Paced:
    """Any source, its frames handed over at `speed` times real time.

    The first frame sets the origin; frame k is returned when its last sample would have been
    captured: ``t0 + (end_s - first_start_s) / speed`` on the monotonic clock. A `stop` event
    cuts the wait short. Everything else (life cycle, rate, channels, counters) is the source's.
    """

    def __init__(
        self, source: Any, speed: float = 1.0, stop: threading.Event | None = None
    ) -> None:
        if not speed > 0:
            raise ValueError(f"pacing speed must be > 0 times real time, got {speed}")
        self.source = source
        self.speed = float(speed)
        self.stop_event = stop or threading.Event()
        #: (monotonic time, source time, speed) where pacing started: maps source time to wall.
        self.origin: tuple[float, float, float] | None = None

    def read(self, timeout_s: float | None = None) -> Frame | None:
        frame = self.source.read(timeout_s)
        if frame is None:
            return None
        if self.origin is None:
            self.origin = (time.monotonic(), frame.start_s, self.speed)
        t0, first, speed = self.origin
        delay = t0 + (frame.end_s - first) / speed - time.monotonic()
        if delay > 0:
            self.stop_event.wait(delay)
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> Paced:
        self.source.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)


class FrameStream:
    """An iterable of frames read as a finite source (tests, evaluation, frames in memory)."""

    live = False
    state = "running"

    def __init__(self, frames: Iterable[Frame]) -> None:
        self._it = iter(frames)

    def read(self, timeout_s: float | None = None) -> Frame | None:
        return next(self._it, None)

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def _signals_stop(stop: threading.Event, caught: list[int]) -> Iterator[None]:
    """SIGINT and SIGTERM set `stop` (on the main thread only; elsewhere nothing changes). A second
    SIGINT raises KeyboardInterrupt, so a stream stuck in a long call can still be cut."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        caught.append(signum)
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run(
    source: Any,
    pipeline: Any,
    sinks: Iterable[Sink] = (),
    *,
    pace: float | None = None,
    stop: threading.Event | None = None,
    live: bool | None = None,
    max_frames: int | None = None,
    duration_s: float | None = None,
    on_frame: Callable[[Frame, tuple[AffectEvent, ...]], None] | None = None,
    close_sinks: bool = True,
    signals: bool = True,
) -> StreamResult:
    """Drive `source` through `pipeline`; every event it returns goes to each sink in order.

    - `source`: a `devices` source (opened and started here if it is not yet; stopped, not closed,
      at the end: its owner closes it) or any iterable of frames.
    - `pace`: play at this many times real time (`Paced`); None: as fast as frames come.
    - `live`: a read that returns nothing means "nothing yet" rather than "the end" (default: the
      source's `live`). Live sources run until `stop`, a signal, `max_frames` or `duration_s`
      (wall-clock seconds from the start of the run), or until they say they have `ended` (a
      wire link whose pipe closed).
    - A frame with no samples is not pushed; it ends its stream where the pipeline has
      `end_stream(frame)` (the wire's end-of-stream marker), whose events are delivered.
    - `on_frame(frame, events)`: called after each frame is pushed, with the events it gave (the
      CLI's annotator, the daemon's recorder and frame count).
    - `signals`: on the main thread, SIGINT and SIGTERM stop the stream between frames.

    However it ends (the source's end, a limit, `stop`, a signal, KeyboardInterrupt), the source is
    stopped, the pipeline flushed (its last events delivered) and the sinks closed (unless
    `close_sinks` is false). An error from the source or the pipeline is raised after the source
    is stopped and the sinks closed; the pipeline is not flushed then.
    """
    stop = stop if stop is not None else threading.Event()
    sinks = tuple(sinks)
    if not hasattr(source, "read"):
        source = FrameStream(source)
    if live is None:
        live = bool(getattr(source, "live", False))
    state = getattr(source, "state", "running")
    if state == "new":
        source.open()
        state = source.state
    if state in ("open", "stopped"):
        source.start()
    reader = Paced(source, pace, stop) if pace else source
    result = StreamResult()
    caught: list[int] = []

    def deliver(batch: tuple[AffectEvent, ...]) -> None:
        for event in batch:
            for sink in sinks:
                sink.write(event)
        result.events += len(batch)

    deadline = None if duration_s is None else time.monotonic() + duration_s
    timeout = READ_TIMEOUT_S if live else None
    failed = False
    try:
        with _signals_stop(stop, caught) if signals else contextlib.nullcontext():
            try:
                while not stop.is_set():
                    frame = reader.read(timeout)
                    if frame is None:
                        if not live or getattr(source, "ended", False):
                            result.ended = True
                            break
                    elif not stop.is_set():
                        result.frames += 1
                        if frame.n_samples:
                            batch = pipeline.push(frame)
                        else:
                            end = getattr(pipeline, "end_stream", None)
                            batch = tuple(end(frame)) if end is not None else ()
                        deliver(batch)
                        if on_frame is not None:
                            on_frame(frame, batch)
                        if max_frames is not None and result.frames >= max_frames:
                            break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
            except KeyboardInterrupt:
                stop.set()
            result.interrupted = stop.is_set()
            result.signal = caught[0] if caught else None
            _stop_source(source)
            deliver(pipeline.flush())
    except BaseException:
        failed = True
        raise
    finally:
        if failed:
            _stop_source(source)
        problem = _close_all(sinks) if close_sinks else None
    if problem is not None:
        raise problem
    return result


def _close_all(sinks: tuple[Sink, ...]) -> Exception | None:
    """Close every sink (one failing does not keep the others open); the first failure."""
    first = None
    for sink in sinks:
        try:
            sink.close()
        except Exception as exc:
            log.warning("closing %s failed: %s", type(sink).__name__, exc)
            first = first or exc
    return first


def _stop_source(source: Any) -> None:
    with contextlib.suppress(Exception):
        source.stop()
