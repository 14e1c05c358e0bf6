"""The one stream runner (`edge.stream`): every frame to the pipeline, every event to every sink,
pacing as a wrapper, and a clean end however the stream stops (the source's end, a limit, a stop
event, SIGINT/SIGTERM, an error)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from devices.frame import Frame
from edge.events import AffectEvent
from edge.stream import EventList, FrameStream, Paced, run
from tests.streams import audio_frames

pytestmark = pytest.mark.device


class Echo:
    """A toy pipeline: one event per frame (its first sample as the value), one more on flush."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.pushed = 0
        self.flushed = 0
        self.fail_at = fail_at

    def _event(self, start_s: float, end_s: float, value: float) -> AffectEvent:
        return AffectEvent(
            modality="toy",
            source="test",
            model="echo",
            model_version=1,
            start_s=start_s,
            end_s=end_s,
            values={"x": value},
            updated=True,
            quality={},
            latency_ms={"total": 0.0},
            seq=self.pushed,
        )

    def push(self, frame: Frame) -> tuple[AffectEvent, ...]:
        if self.fail_at is not None and self.pushed == self.fail_at:
            raise RuntimeError("model failed")
        self.pushed += 1
        return (self._event(frame.start_s, frame.end_s, float(frame.data[0, 0])),)

    def flush(self) -> tuple[AffectEvent, ...]:
        self.flushed += 1
        return (self._event(-1.0, -1.0, -1.0),)


class Closing(EventList):
    def __init__(self) -> None:
        super().__init__()
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def frames(n: int = 10, block: int = 160) -> list[Frame]:
    x = np.arange(n * block, dtype=np.float32)
    return list(audio_frames(x, 16000, block))


def test_every_event_reaches_every_sink_in_order_then_the_sinks_close() -> None:
    a, b, pipe = Closing(), Closing(), Echo()
    result = run(frames(10), pipe, (a, b))
    assert [e.values["x"] for e in a.events] == [160.0 * i for i in range(10)] + [-1.0]
    assert a.events == b.events
    assert (result.frames, result.events, result.ended, result.interrupted) == (10, 11, True, False)
    assert (a.closed, b.closed, pipe.flushed) == (1, 1, 1)


def test_limits_end_the_stream_and_the_pipeline_is_still_flushed() -> None:
    seen, pipe = EventList(), Echo()
    result = run(frames(10), pipe, (seen,), max_frames=4)
    assert (result.frames, result.ended, pipe.flushed) == (4, False, 1)
    assert [e.values["x"] for e in seen.events] == [0.0, 160.0, 320.0, 480.0, -1.0]


def test_a_stop_event_ends_the_stream_between_frames_keeping_what_was_seen() -> None:
    stop = threading.Event()
    seen, pipe = EventList(), Echo()

    def after(frame: Frame, events: tuple) -> None:
        if frame.seq == 2:
            stop.set()

    result = run(frames(10), pipe, (seen,), stop=stop, on_frame=after)
    assert (result.frames, result.interrupted, result.signal) == (3, True, None)
    assert len(seen.events) == 4 and seen.events[-1].values["x"] == -1.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_stop_the_stream_and_the_handlers_are_restored(signum: int) -> None:
    before = signal.getsignal(signum)
    seen, sink, pipe = EventList(), Closing(), Echo()

    def after(frame: Frame, events: tuple) -> None:
        if frame.seq == 5:
            os.kill(os.getpid(), signum)

    result = run(frames(50), pipe, (seen, sink), on_frame=after)
    assert result.interrupted and result.signal == signum
    assert 6 <= result.frames < 50  # the handler runs within a few bytecodes of the kill
    assert seen.events[-1].values["x"] == -1.0 and sink.closed == 1
    assert signal.getsignal(signum) is before


def test_an_error_closes_the_sinks_and_is_raised_without_a_flush() -> None:
    sink, pipe = Closing(), Echo(fail_at=3)
    with pytest.raises(RuntimeError, match="model failed"):
        run(frames(10), pipe, (sink,))
    assert (len(sink.events), sink.closed, pipe.flushed) == (3, 1, 0)


class Live:
    """A live source that has a frame every other read and nothing in between."""

    live = True

    def __init__(self) -> None:
        self.state, self.reads, self.stopped = "running", 0, False

    def read(self, timeout_s: float | None = None) -> Frame | None:
        self.reads += 1
        assert timeout_s is not None  # a live source is never read without a timeout
        if self.reads % 2:
            return None
        return Frame(np.ones((1, 16), np.float32), self.reads / 1000, 16000.0, ("mono",), "audio")

    def stop(self) -> None:
        self.stopped = True


def test_a_live_source_that_has_nothing_yet_is_read_again_until_a_limit() -> None:
    source, pipe = Live(), Echo()
    result = run(source, pipe, max_frames=5)
    assert (result.frames, result.ended, source.reads, source.stopped) == (5, False, 10, True)


def test_pacing_never_hands_a_frame_over_before_its_last_sample_was_captured() -> None:
    fs = frames(10, block=800)  # 10 x 50 ms
    paced = Paced(FrameStream(fs), speed=4.0)
    handed = []
    while (frame := paced.read()) is not None:
        handed.append((time.monotonic(), frame))
    t0, first, speed = paced.origin
    assert (first, speed) == (0.0, 4.0)
    for t, frame in handed:
        assert t >= t0 + frame.end_s / 4.0 - 1e-4


def test_a_stop_cuts_the_pacing_wait_short() -> None:
    stop = threading.Event()
    stop.set()
    hour = audio_frames(np.zeros(360 * 16, np.float32), 16, 16)  # 360 frames of 10 s
    # Were the waits not cut short, this would take an hour at real time.
    assert sum(1 for _ in Paced(FrameStream(hour), 1.0, stop)) == 360
