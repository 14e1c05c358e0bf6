"""Read PCM WAV files with the standard library only, so a device needs no audio package.

8-, 16-, 24- and 32-bit integer PCM are read; everything else (float WAV, compressed audio,
non-audio files) is refused with a `SourceError` that says what was found. Richer formats
(FLAC, Ogg) go through the optional `soundfile` reader in the `audio` extra.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import SourceError


@dataclass(frozen=True)
class WavAudio:
    """Samples as float32 in [-1, 1), shape (frames, channels), and the rate in Hz."""

    samples: np.ndarray
    rate_hz: int

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.rate_hz

    @property
    def n_channels(self) -> int:
        return self.samples.shape[1]

    def mono(self) -> np.ndarray:
        """Channels averaged to one float32 signal (frames,)."""
        return self.samples.mean(axis=1, dtype=np.float32)


def _decode(raw: bytes, width: int, n_channels: int) -> np.ndarray:
    if width == 1:
        ints = np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128
        scale = 128.0
    elif width == 2:
        ints = np.frombuffer(raw, dtype="<i2")
        scale = 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
        scale = 8388608.0
    else:
        ints = np.frombuffer(raw, dtype="<i4")
        scale = 2147483648.0
    return (ints.astype(np.float64) / scale).astype(np.float32).reshape(-1, n_channels)


def read_wav(path: str | Path) -> WavAudio:
    """Read a whole PCM WAV file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"audio file not found: {path}")
    try:
        with wave.open(str(path), "rb") as w:
            n_channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SourceError(
            f"{path} is not a PCM WAV file ({exc}); convert it to 16-bit PCM WAV, or install "
            "the 'audio' extra to read FLAC/Ogg"
        ) from exc
    if width not in (1, 2, 3, 4):
        raise SourceError(f"{path}: {8 * width}-bit samples are not supported")
    usable = len(raw) - len(raw) % (width * n_channels)
    return WavAudio(_decode(raw[:usable], width, n_channels), rate)
