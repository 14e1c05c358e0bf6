"""The session life cycle every sensor source follows, as BrainFlow's boards do.

    open()  -> prepare the device or file (BrainFlow: prepare_session)
    start() -> begin streaming           (start_stream)
    read()  -> the next Frame, or None at the end of the stream
    stop()  -> stop streaming            (stop_stream)
    close() -> release everything        (release_session)

Used as a context manager (`with source:` opens and starts it, and always stops and closes it,
even when the body raises), and iterated for its frames. A source knows its real rate and
channel names once open, and counts its own drops; `stats()` reports them.

Thread safety: one thread drives a source's life cycle and reads its frames. Live sources
(microphone, boards) fill their buffers from their own driver threads without blocking them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

from devices.errors import SourceError
from devices.frame import Frame

#: Life-cycle states, in order.
STATES = ("new", "open", "running", "stopped", "closed")


class Source(ABC):
    """Base of every source: the life cycle, iteration and drop counters."""

    kind: ClassVar[str]
    #: A live device (microphone, camera, board): a read that returns nothing means "nothing
    #: yet", not the end of the stream.
    live: bool = False

    def __init__(self, source_id: str) -> None:
        self.id = source_id
        self.state = "new"
        self.frames_read = 0
        self.samples_read = 0
        #: Frames (blocks, images, chunks) lost before a reader saw them.
        self.dropped_frames = 0
        #: Samples in those frames, where the source knows how many.
        self.dropped_samples = 0

    # --- what a source knows once open -------------------------------------------------------
    @property
    @abstractmethod
    def rate_hz(self) -> float:
        """Samples (or video frames) per second, as the device or file really delivers them."""

    @property
    @abstractmethod
    def channels(self) -> tuple[str, ...]:
        """Channel names in data order (audio: 'mono' or 'ch0'...; EEG: electrode names)."""

    # --- the life cycle ----------------------------------------------------------------------
    def open(self) -> None:
        if self.state != "new":
            raise SourceError(f"{self.id}: open() on a source that is {self.state}")
        self._open()
        self.state = "open"

    def start(self) -> None:
        if self.state not in ("open", "stopped"):
            raise SourceError(f"{self.id}: start() on a source that is {self.state}; open it first")
        self._start()
        self.state = "running"

    def read(self, timeout_s: float | None = None) -> Frame | None:
        """The next frame; None at the end of a finite stream (or when `timeout_s` passes)."""
        if self.state != "running":
            raise SourceError(f"{self.id}: read() on a source that is {self.state}; start it first")
        frame = self._read(timeout_s)
        if frame is not None:
            self.frames_read += 1
            self.samples_read += frame.n_samples
        return frame

    def stop(self) -> None:
        if self.state == "running":
            try:
                self._stop()
            finally:
                self.state = "stopped"

    def close(self) -> None:
        if self.state in ("closed", "new"):
            self.state = "closed"
            return
        try:
            self.stop()
        finally:
            try:
                self._close()
            finally:
                self.state = "closed"

    def __enter__(self) -> Source:
        self.open()
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def stats(self) -> dict[str, Any]:
        return {
            "source": self.id,
            "kind": self.kind,
            "state": self.state,
            "frames_read": self.frames_read,
            "samples_read": self.samples_read,
            "dropped_frames": self.dropped_frames,
            "dropped_samples": self.dropped_samples,
        }

    # --- what each source implements ---------------------------------------------------------
    @abstractmethod
    def _open(self) -> None: ...

    def _start(self) -> None:  # noqa: B027 - a file needs nothing to start
        """Begin streaming (live sources start their driver here)."""

    @abstractmethod
    def _read(self, timeout_s: float | None) -> Frame | None: ...

    def _stop(self) -> None:  # noqa: B027 - a file needs nothing to stop
        """Stop streaming; buffers stay readable until close."""

    @abstractmethod
    def _close(self) -> None: ...
