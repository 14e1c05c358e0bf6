"""Integer PCM decoding for the standard-library WAV reader (no audio package needed on a device).

8-bit unsigned, 16-, 24- and 32-bit signed little-endian samples become float32 in [-1, 1),
interleaved frames become (channels, samples).
"""

from __future__ import annotations

import numpy as np

_SCALES = {1: 128.0, 2: 32768.0, 3: 8388608.0, 4: 2147483648.0}


def decode_pcm(raw: bytes, width: int, n_channels: int) -> np.ndarray:
    """(samples, channels) float32 from interleaved little-endian PCM bytes of `width` bytes."""
    if width == 1:
        ints = np.frombuffer(raw, dtype=np.uint8).astype(np.int32) - 128
    elif width == 2:
        ints = np.frombuffer(raw, dtype="<i2")
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)) << 8 >> 8
    else:
        ints = np.frombuffer(raw, dtype="<i4")
    return (ints.astype(np.float64) / _SCALES[width]).astype(np.float32).reshape(-1, n_channels)
