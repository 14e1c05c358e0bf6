"""Audio for distillation: reading any format at any rate, fixed segments, and augmentation.

Files are read as the device reads them (`devices.audio`: any format libsndfile reads), mixed to
mono and resampled to 16 kHz by our own resampler. DC is left in: the front end's DC blocker
removes it, in training as on the device. Augmentation is deterministic per (file, segment, variant): the same key always gives
the same audio, so a teacher's cached labels and the student's features match without storing
waveforms. Variant 0 is the clean segment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devices.audio import read_audio
from edge.dsp import resample
from edge.errors import SourceError

SAMPLE_RATE = 16000
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def list_audio(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError(f"audio folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SourceError(f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return files


def load_16k(path: str | Path) -> np.ndarray:
    """Mono float32 at 16 kHz, read as the device reads it (`AudioFileSource`), for teachers and
    augmentation. A corrupt or non-audio file is a `SourceError`."""
    x, rate = read_audio(path)
    mono = x[0]
    if not np.all(np.isfinite(mono)):
        raise SourceError(f"{path} holds NaN or Inf samples")
    return resample(mono.astype(np.float64), rate, SAMPLE_RATE).astype(np.float32)


def segments(wave: np.ndarray, segment_s: float, min_s: float = 1.0) -> list[np.ndarray]:
    """Consecutive segments of segment_s; a tail shorter than min_s is dropped (a short file is kept whole)."""
    n = int(segment_s * SAMPLE_RATE)
    if len(wave) <= n:
        return [wave] if len(wave) >= int(0.1 * SAMPLE_RATE) else []
    out = [wave[s : s + n] for s in range(0, len(wave), n)]
    return [s for s in out if len(s) >= int(min_s * SAMPLE_RATE)]


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def _reverb(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A synthetic room impulse response: exponentially decaying noise with a direct path."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 0.3
    ir[0] = 1.0
    return ir / np.sqrt(np.sum(ir**2))


def augment(wave: np.ndarray, key: str, variant: int) -> np.ndarray:
    """Variant 0: the clean wave. Others: speed 0.9-1.1, reverb (half the time), noise at 10-30 dB SNR, gain +-6 dB."""
    if variant == 0:
        return wave
    rng = np.random.default_rng(_seed(f"{key}#{variant}"))
    x = wave.astype(np.float64)
    speed = rng.uniform(0.9, 1.1)
    x = resample(x, round(SAMPLE_RATE * speed / 10) * 10, SAMPLE_RATE)
    if rng.random() < 0.5:
        x = np.convolve(x, _reverb(rng, rng.uniform(0.15, 0.6)))[: len(x)]
    power = np.mean(x**2) + 1e-12
    snr_db = rng.uniform(10, 30)
    x = x + rng.standard_normal(len(x)) * np.sqrt(power / 10 ** (snr_db / 10))
    x = x * 10 ** (rng.uniform(-6, 6) / 20)
    peak = np.max(np.abs(x)) + 1e-12
    return (x / peak * min(peak, 0.99)).astype(np.float32)


@dataclass(frozen=True)
class Item:
    """One labelled unit: a segment of a file, in one augmentation variant."""

    file: str
    segment: int
    variant: int
    speaker: str

    @property
    def key(self) -> str:
        return f"{self.file}|{self.segment}|{self.variant}"


def speaker_of(relative: str, pattern: str | None) -> str:
    """Speaker id from a file's relative path by a regex's first group (e.g. EmoDB: '^(\\d\\d)')."""
    if not pattern:
        return Path(relative).parent.as_posix() or "all"
    found = re.search(pattern, Path(relative).name)
    return found.group(1) if found else "unknown"


def noise_gate(x: np.ndarray, threshold_rms: float, block: int = 160) -> np.ndarray:
    """Zero every 10 ms block whose RMS is under `threshold_rms`, as the gates of phones, headsets
    and speech synthesisers do: the pauses become digital silence."""
    n = len(x) // block * block
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[:n].reshape(-1, block) ** 2, axis=1))
    quiet = rms < threshold_rms
    out = x.copy()
    out[:n].reshape(-1, block)[quiet] = 0.0
    return out


def augment_device(wave: np.ndarray, key: str, variant: int, gate: bool = False) -> np.ndarray:
    """What a device meets, for teachers and students that must ignore it (variant 0: clean):
    gain +-12 dB, room reverberation (half the time, RT60 0.15-0.8 s), white or pink noise at
    0-30 dB SNR against the speech's power, and half the time a cheap microphone's band
    (high-pass 80-300 Hz, low-pass 3.4-7 kHz, order-4 Butterworth). With `gate`, a third of the
    variants with at least 15 dB SNR also pass a noise gate set 3-12 dB over the added noise
    (`noise_gate`; drawn from its own seed, so the other draws are those without it).
    Deterministic per key."""
    if variant == 0:
        return wave
    from scipy import signal

    rng = np.random.default_rng(_seed(f"device|{key}#{variant}"))
    x = wave.astype(np.float64)
    if rng.random() < 0.5:
        # FFT convolution: the same room to float precision, ~50x cheaper than np.convolve for
        # a 0.8 s response (what made device-augmented inputs cost 0.5 s of CPU per copy)
        x = signal.fftconvolve(x, _reverb(rng, rng.uniform(0.15, 0.8)))[: len(x)]
    if rng.random() < 0.5:
        low, high = rng.uniform(80, 300), rng.uniform(3400, 7000)
        x = signal.sosfilt(
            signal.butter(4, [low, high], "bandpass", fs=SAMPLE_RATE, output="sos"), x
        )
    active = np.abs(x) > 0.05 * (np.max(np.abs(x)) + 1e-12)
    power = float(np.mean(x[active] ** 2)) if active.any() else float(np.mean(x**2)) + 1e-12
    noise = rng.standard_normal(len(x))
    if rng.random() < 0.5:  # pink: -3 dB per octave
        spectrum = np.fft.rfft(noise) / np.sqrt(
            np.maximum(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE), 20.0)
        )
        noise = np.fft.irfft(spectrum, n=len(x))
        noise /= noise.std() + 1e-12
    snr_db = rng.uniform(0, 30)
    noise_rms = np.sqrt(power / 10 ** (snr_db / 10))
    x = x + noise * noise_rms
    if gate:
        gate_rng = np.random.default_rng(_seed(f"gate|{key}#{variant}"))
        if gate_rng.random() < 1 / 3 and snr_db >= 15:
            x = noise_gate(x, noise_rms * 10 ** (gate_rng.uniform(3, 12) / 20))
    x = x * 10 ** (rng.uniform(-12, 12) / 20)
    peak = np.max(np.abs(x)) + 1e-12
    return (x / peak * min(peak, 0.99)).astype(np.float32)
