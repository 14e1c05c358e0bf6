"""The bundled sample inputs, and the synthetic EEG the demo makes: what the demo, the benchmarks,
build scripts and tests feed the pipelines when they need a known input."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from devices.profile import electrodes

#: The 14 electrodes of the Emotiv layout the synthetic recording carries (the device profile's).
EMOTIV_14 = electrodes("emotiv-14")
#: How long the demo's inputs last (the synthetic recording; the photograph is shown as long).
DEMO_SECONDS = 12.0
#: The synthetic recording's calibration, after 2 s of filter settling.
DEMO_CALIBRATION_S = 2.0


def sample_clip() -> Path:
    """The bundled speech clip (synthetic English speech, 16 kHz WAV)."""
    return Path(str(resources.files("edge").joinpath("data", "samples", "speech_en.wav")))


def sample_face() -> Path:
    """The bundled photograph (one face, public domain)."""
    return Path(str(resources.files("edge").joinpath("data", "samples", "face_astronaut.jpg")))


def synthetic_eeg(rate_hz: int = 128, seconds: int = 12, seed: int = 0) -> np.ndarray:
    """Microvolts, (14, samples): 1/f-like noise over Emotiv-like DC offsets, 50 Hz hum, alpha
    on O1/O2, a blink on AF3/AF4 at 6.3 s and a muscle burst on T7/T8 at 9-10 s."""
    rng = np.random.default_rng(seed)
    n = rate_hz * seconds
    white = rng.standard_normal((len(EMOTIV_14), n))
    spectrum = np.fft.rfft(white, axis=1) / np.sqrt(
        np.maximum(np.fft.rfftfreq(n, 1 / rate_hz), 1.0)
    )
    x = np.fft.irfft(spectrum, n=n, axis=1) * 10.0 / 0.2
    t = np.arange(n) / rate_hz
    x += 5.0 * np.sin(2 * np.pi * 50 * t) + rng.uniform(3800, 4600, (len(EMOTIV_14), 1))
    for name in ("O1", "O2"):
        x[EMOTIV_14.index(name)] += 8.0 * np.sin(2 * np.pi * 10 * t)
    blink = slice(int(6.3 * rate_hz), int(6.3 * rate_hz) + 40)
    for name in ("AF3", "AF4"):
        x[EMOTIV_14.index(name), blink] += 150 * np.hanning(40)
    burst = rng.standard_normal(rate_hz)
    f = np.fft.rfftfreq(rate_hz, 1 / rate_hz)
    burst = np.fft.irfft(np.where(f > 25, np.fft.rfft(burst), 0), rate_hz)
    for name in ("T7", "T8"):
        x[EMOTIV_14.index(name), 9 * rate_hz : 10 * rate_hz] += 50 * burst / burst.std()
    return x


def write_synthetic_csv(path: Path, rate_hz: int = 128) -> Path:
    """`synthetic_eeg` as a CSV (a time column `t` in seconds, then one column per electrode)."""
    x = synthetic_eeg(rate_hz, int(DEMO_SECONDS))
    rows = [
        f"{i / rate_hz:.5f}," + ",".join(f"{v:.2f}" for v in x[:, i]) for i in range(x.shape[1])
    ]
    path.write_text("t," + ",".join(EMOTIV_14) + "\n" + "\n".join(rows) + "\n")
    return path
