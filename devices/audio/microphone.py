"""`MicrophoneSource`: live audio from a sound card through PortAudio (`sounddevice`).

PortAudio calls our callback on its own thread for every block. The callback never blocks and
never allocates: it copies the block into a preallocated ring of `ring_blocks` slots and bumps a
counter, nothing else (no lock, no event). The reader polls the counter. When the reader falls
behind by a whole ring (less one slot, which the callback may be filling), the oldest blocks are
overwritten: the reader notices, skips them and counts them in `dropped_frames` /
`dropped_samples`, and the next frame's `start_s` shows the gap.
PortAudio's own input overflows (the driver lost samples before our callback ran) are counted
in `overflows`.

Frames are int16 (or float32) of shape (channels, samples), stamped by the stream's sample
clock: sample n of the stream starts at n / rate_hz seconds after start().
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from devices.errors import SourceError
from devices.frame import Frame
from devices.source import Source

DTYPES = ("int16", "float32")


def _sounddevice():
    try:
        import sounddevice as sd
    except ImportError:
        raise SourceError(
            "live audio needs sounddevice: pip install 'affect-edge[audio]'"
        ) from None
    except OSError as exc:  # sounddevice is installed but libportaudio is not
        raise SourceError(
            f"sounddevice cannot load PortAudio ({exc}); install it: apt-get install libportaudio2"
        ) from None
    return sd


class MicrophoneSource(Source):
    """A PortAudio input device; `device` is its index or (part of) its name, None the default."""

    kind = "audio"
    live = True

    def __init__(
        self,
        device: int | str | None = None,
        rate_hz: int = 16000,
        channels: int = 1,
        block_samples: int | None = None,
        dtype: str = "int16",
        ring_blocks: int = 64,
        poll_s: float = 0.002,
        source_id: str | None = None,
    ) -> None:
        super().__init__(source_id or f"mic:{device if device is not None else 'default'}")
        if dtype not in DTYPES:
            raise SourceError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        if channels < 1 or ring_blocks < 2 or rate_hz <= 0:
            raise SourceError(
                f"need channels >= 1, ring_blocks >= 2 and rate_hz > 0; got {channels}, "
                f"{ring_blocks}, {rate_hz}"
            )
        self.device = device
        self.requested_rate_hz = int(rate_hz)
        self.n_channels = int(channels)
        self.block = int(block_samples or max(1, rate_hz // 100))
        self.dtype = dtype
        self.capacity = int(ring_blocks)
        self.poll_s = poll_s
        self.overflows = 0
        self._stream: Any = None
        self._ring = np.zeros((self.capacity, self.block, self.n_channels), dtype=dtype)
        self._written = 0
        self._consumed = 0
        self._position = 0
        self._failed: str | None = None

    @property
    def rate_hz(self) -> float:
        if self._stream is None:
            raise SourceError(f"{self.id}: not open")
        return float(self._stream.samplerate)

    @property
    def channels(self) -> tuple[str, ...]:
        return (
            ("mono",) if self.n_channels == 1 else tuple(f"ch{i}" for i in range(self.n_channels))
        )

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's thread: copy and count, nothing that can block or allocate.
        if status.input_overflow:
            self.overflows += 1
        self._ring[self._written % self.capacity] = indata
        self._written += 1

    def _open(self) -> None:
        sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise SourceError(
                f"{self.id}: no such input device ({exc}); `python -m sounddevice` lists the "
                "input devices here: name one as mic:INDEX or mic:NAME"
            ) from exc
        self.device_name = info["name"]
        try:
            self._stream = sd.InputStream(
                samplerate=self.requested_rate_hz,
                blocksize=self.block,
                device=self.device,
                channels=self.n_channels,
                dtype=self.dtype,
                callback=self._callback,
                finished_callback=self._finished,
            )
        except (ValueError, sd.PortAudioError) as exc:
            raise SourceError(
                f"{self.id}: cannot open {info['name']!r} at {self.requested_rate_hz} Hz with "
                f"{self.n_channels} channel(s) ({exc})"
            ) from exc

    def _finished(self) -> None:
        if self._stream is not None and self.state == "running":
            self._failed = "the input stream ended (device unplugged or driver error)"

    def _start(self) -> None:
        self._written = self._consumed = self._position = 0
        self._failed = None
        try:
            self._stream.start()
        except Exception as exc:  # sounddevice raises PortAudioError and others from C
            raise SourceError(f"{self.id}: cannot start the input stream ({exc})") from exc

    def _read(self, timeout_s: float | None) -> Frame | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            # The callback copies a block into slot (written % capacity) before it counts it, so
            # the oldest unread slot is safe only while the reader is at most capacity - 1
            # blocks behind, before the copy and after it.
            behind = self._written - self._consumed
            if behind >= self.capacity:  # the ring wrapped: the oldest blocks are gone
                self._skip(behind - self.capacity + 1)
                continue
            if behind > 0:
                slot = self._consumed % self.capacity
                # Always a copy: for one channel the transposed slot is contiguous already, and a
                # view would be overwritten by later callbacks after the frame was handed out.
                data = self._ring[slot].T.copy()
                if self._written - self._consumed >= self.capacity:  # overwritten while copying
                    self._skip(1)
                    continue
                self._consumed += 1
                start = self._position
                self._position += self.block
                rate = self.rate_hz
                return Frame(
                    data, start / rate, rate, self.channels, "audio", self.id, self.frames_read
                )
            if self._failed:
                raise SourceError(f"{self.id}: {self._failed}")
            if not self._stream.active:
                return None
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_s)

    def _skip(self, n: int) -> None:
        self._consumed += n
        self._position += n * self.block
        self.dropped_frames += n
        self.dropped_samples += n * self.block

    def _stop(self) -> None:
        self._stream.stop()

    def _close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "overflows": self.overflows, "block_samples": self.block}
