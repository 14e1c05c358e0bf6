"""The speech features students learn from: the device's own front end (`edge.frontends.speech`).

`SPEECH_SPEC` is the front end every speech student is trained and shipped with: 16 kHz, DC
blocker, 25 ms Hann window in a 512-point FFT, 10 ms hop, 40 mel bands from 20 to 7600 Hz,
natural-log power; 1 s windows (100 frames) minus the mean level of their loudest quarter of
frames (window_norm "loudest", since speech-adv version 4; "mean" before), scored every 0.5 s.

A clean file's features are computed from the file at its own sample rate, exactly as the device
streams it (`file_features`): bit for bit the device's frames. Augmented audio, made at 16 kHz,
goes through the same front end at 16 kHz (`speech_features`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from devices.audio import read_audio
from distill.audio import SAMPLE_RATE
from edge.frontends.speech import features
from edge.runtime.specs import LogMelSpec

SPEECH_SPEC = LogMelSpec.from_dict(
    {
        "sample_rate": SAMPLE_RATE,
        "n_fft": 512,
        "win_length": 400,
        "hop_length": 160,
        "n_mels": 40,
        "fmin": 20.0,
        "fmax": 7600.0,
        "window_frames": 100,
        "update_s": 0.5,
        "window_norm": "loudest",
    }
)


def front_end_dict(spec: LogMelSpec = SPEECH_SPEC, update_s: float | None = None) -> dict:
    """The manifest's front_end section (optionally with another update period)."""
    out = spec.to_dict()
    if update_s is not None:
        out["update_s"] = update_s
    return out


def speech_features(wave: np.ndarray, spec: LogMelSpec = SPEECH_SPEC) -> np.ndarray:
    """(frames, n_mels) float32 log-mel of a waveform at the spec's rate (the rate
    `distill.audio` makes augmented audio at), through the device's front end."""
    return features(np.asarray(wave, dtype=np.float32), spec.sample_rate, spec)


def file_features(path: str | Path, spec: LogMelSpec = SPEECH_SPEC) -> np.ndarray:
    """(frames, n_mels) of a whole audio file at its own rate: the frames the device computes."""
    x, rate = read_audio(path)
    return features(x[0], rate, spec)


def segment_frames(
    frames: np.ndarray, segment: int, segment_s: float, spec: LogMelSpec = SPEECH_SPEC
) -> np.ndarray:
    """The frames lying wholly inside segment `segment` (of `segment_s` seconds) of a file."""
    n = round(segment_s * spec.sample_rate)
    first = -(-segment * n // spec.hop_length)
    last = ((segment + 1) * n - spec.n_fft) // spec.hop_length  # inclusive
    return frames[first : max(first, last + 1)]
