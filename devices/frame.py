"""`Frame`: one timestamped piece of a sensor stream, the unit every source yields.

Shapes: audio and EEG frames hold (channels, samples); video frames hold one image, (height,
width, 3) uint8 in OpenCV's BGR order. `start_s` is the time of the first sample (or of the
image) on the source's own clock, so a consumer stamps its results from the frames, never by
counting them: a dropped frame leaves a visible gap instead of shifting every later time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("audio", "video", "eeg")


@dataclass(frozen=True, slots=True)
class Frame:
    """Data plus where it sits in time. Cheap to build: sources and pipelines check what they use.

    ``rate_hz`` is samples per second for audio and EEG, frames per second for video.
    ``seq`` is the source's running frame number: a jump means frames were dropped on the way.
    """

    data: np.ndarray
    start_s: float
    rate_hz: float
    channels: tuple[str, ...]
    kind: str
    source: str = ""
    seq: int = 0

    @property
    def n_samples(self) -> int:
        """Samples per channel (audio, EEG), or 1 for a video frame."""
        # size // len rather than shape[-1]: shape builds a tuple, and per-block paths of a
        # hearing aid count every allocation.
        return 1 if self.kind == "video" else self.data.size // len(self.data)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.rate_hz

    @property
    def end_s(self) -> float:
        """Time just after the last sample (start of the next frame if none is lost)."""
        return self.start_s + self.duration_s
