"""`StreamClock`: where a sample of the stream sits on the source's clock, taken from the frames.

A pipeline counts the samples it has been fed (stream position). Each frame says when its first
sample was taken (`Frame.start_s`). While frames arrive back to back, position and source time
move together; when a frame starts later than the previous one ended (frames were dropped on
the way), or earlier (a clock that jumped back), the clock records an anchor there, so samples
after it map to their true times and samples before it keep theirs. Anchors older than the
pipeline's longest look-back are forgotten, so memory stays bounded.

`note` runs on the caller's thread per frame and allocates nothing a tracer sees (counters are
floats, which CPython recycles); `time_of` may run on an inference thread meanwhile: anchors are
(position, offset) pairs in one list, whose single appends and deletions are atomic.
"""

from __future__ import annotations

from bisect import bisect_right

from devices.frame import Frame


def _position(anchor: tuple[float, float]) -> float:
    return anchor[0]


class StreamClock:
    def __init__(self, keep_anchors: int = 64) -> None:
        self.keep_anchors = keep_anchors
        self.reset()

    def reset(self) -> None:
        self.rate_hz: float | None = None
        # Samples and frames fed so far, kept as floats (exact up to 2**53): a Python int above
        # 256 is a new object on every increment, a float comes from CPython's free list.
        self.position = 0.0
        self.frames = 0.0
        self._anchors: list[tuple[float, float]] = []  # source time of p: p / rate + offset
        self._offset: float | None = None
        self.gaps = 0
        self.gap_s = 0.0
        self.backward_jumps = 0

    def note(self, frame: Frame) -> None:
        """Record a frame about to be consumed (call before counting its samples)."""
        rate = self.rate_hz
        if rate is None:
            rate = self.rate_hz = frame.rate_hz
        offset = frame.start_s - self.position / rate
        last = self._offset
        if last is None:
            self._add(offset)
        else:
            delta = offset - last
            if delta > 0.5 / rate:
                self.gaps += 1
                self.gap_s += delta
                self._add(offset)
            elif delta < -0.5 / rate:
                self.backward_jumps += 1
                self._add(offset)
        self.position += frame.n_samples
        self.frames += 1.0

    def _add(self, offset: float) -> None:
        self._anchors.append((self.position, offset))
        self._offset = offset
        if len(self._anchors) > self.keep_anchors:
            del self._anchors[0]

    def time_of(self, position: float) -> float:
        """Source time of stream position `position` (in samples; fractions allowed)."""
        anchors = self._anchors
        if self.rate_hz is None or not anchors:
            return position
        i = bisect_right(anchors, position, key=_position) - 1
        return position / self.rate_hz + anchors[max(i, 0)][1]

    def end_time_of(self, end: float) -> float:
        """Source time just past the sample before position `end` (the end of a span)."""
        if self.rate_hz is None:
            return end
        return self.time_of(end - 1) + 1.0 / self.rate_hz

    def jumps_between(self, first: float, last: float) -> bool:
        """Whether an anchor (a gap or a jump) falls inside positions (first, last]."""
        anchors = self._anchors
        i = bisect_right(anchors, first, key=_position)
        return i < len(anchors) and anchors[i][0] <= last
