"""The speech front end shared by teachers trained here, students and the device.

One configuration, one implementation (`edge.dsp.log_mel`): the features a student learns from
are bit-for-bit the features the device computes. 16 kHz, 25 ms Hann window in a 512-point FFT,
10 ms hop, 40 mel bands from 20 to 7600 Hz, natural-log power.
"""

from __future__ import annotations

import numpy as np

from edge.dsp import LogMelConfig, log_mel

SPEECH_FRONT_END = LogMelConfig(
    sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, fmin=20.0, fmax=7600.0
)


def front_end_dict(config: LogMelConfig = SPEECH_FRONT_END) -> dict:
    return {"kind": "logmel", **config.to_dict()}


def speech_features(wave: np.ndarray, config: LogMelConfig = SPEECH_FRONT_END) -> np.ndarray:
    """(frames, n_mels) float32 log-mel of a 16 kHz waveform."""
    return log_mel(np.asarray(wave, dtype=np.float32), config)
