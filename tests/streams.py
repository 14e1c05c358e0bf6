"""Frame streams for tests: arrays cut into `Frame`s as a source would deliver them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from devices.frame import Frame
from edge import stream
from edge.stream import EventList


def audio_frames(
    x: np.ndarray, rate: int, block: int, source: str = "test", start_s: float = 0.0
) -> Iterator[Frame]:
    """Mono samples as consecutive audio frames of `block` samples, stamped by position."""
    for i, s in enumerate(range(0, len(x), block)):
        data = np.ascontiguousarray(x[s : s + block])[None, :]
        yield Frame(data, start_s + s / rate, float(rate), ("mono",), "audio", source, i)


def eeg_frames(
    x: np.ndarray,
    rate: float,
    block: int,
    channels: tuple[str, ...],
    source: str = "test",
    start_s: float = 0.0,
) -> Iterator[Frame]:
    """(channels, samples) EEG as consecutive frames of `block` samples, stamped by position."""
    for i, s in enumerate(range(0, x.shape[1], block)):
        yield Frame(
            x[:, s : s + block], start_s + s / rate, float(rate), channels, "eeg", source, i
        )


def run_stream(pipeline, frames) -> list:
    """Every event a pipeline gives for a stream of frames (or a source), flush included, through
    the one stream runner."""
    seen = EventList()
    stream.run(frames, pipeline, (seen,))
    return seen.events


def error_in_thread(fn: Callable, *args) -> BaseException | None:
    """Call fn(*args) on another thread; the exception it raised there, or None."""
    caught: list[BaseException] = []

    def target() -> None:
        try:
            fn(*args)
        except Exception as exc:
            caught.append(exc)

    t = threading.Thread(target=target)
    t.start()
    t.join()
    return caught[0] if caught else None


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, poll: float = 0.02) -> bool:
    """Poll `cond` until it holds or `timeout` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(poll)
    return cond()
