"""`BlockClock`: start times for blocks of samples, from a device's or file's own coarse stamps.

Headsets stamp packets, not samples, and exports round their times, so consecutive blocks jitter.
A block is stamped as the continuation of the last one (start + samples / rate) unless its own
time, measured from the first block's, differs from that by more than `tolerance_s`: then it is
a real gap (samples lost, a reconnect) or a jump back, and the device's time is kept so the
consumer sees it.
"""

from __future__ import annotations


class BlockClock:
    def __init__(self, tolerance_s: float) -> None:
        self.tolerance_s = float(tolerance_s)
        self.reset()

    def reset(self) -> None:
        self._t0: float | None = None
        self._next_s = 0.0

    def start(self, own_time: float | None, samples: int, rate_hz: float) -> float:
        """Start time of a block of `samples` whose first sample the device stamped `own_time`
        (None where it gives no time: the block simply continues the last)."""
        start = self._next_s
        if own_time is not None:
            if self._t0 is None:
                self._t0 = float(own_time)
            own_s = float(own_time) - self._t0
            if abs(own_s - start) > self.tolerance_s:
                start = own_s
        self._next_s = start + samples / rate_hz
        return start
