"""Streaming log-mel front end for speech: blocks of any size in, completed frames out.

Frame t covers samples [t * hop_length, t * hop_length + n_fft) of the stream (no centring
pad, like librosa's ``center=False``). Each frame is pre-emphasised (optional), multiplied
by a periodic Hann window of ``win_length`` centred in ``n_fft``, turned into a power
spectrum, pooled by a mel filterbank and logged: ``ln(max(mel_power, log_floor))``.
int16 input is scaled by 1/32768. The same code computes training features (`log_mel`) and
device features (`StreamingLogMel`), so the two cannot disagree.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge.dsp import checks
from edge.dsp._logmel import LogMelKernel
from edge.dsp.mel import mel_filterbank, sparse_filterbank
from edge.errors import ConfigError, InputError

MAX_N_FFT = 2048
_INT16 = np.dtype(np.int16)


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of the speech front end; validated once, at construction.

    Units: ``sample_rate`` in Hz; ``n_fft``, ``win_length`` and ``hop_length`` in samples;
    ``fmin``/``fmax`` in Hz. ``win_length`` and ``fmax`` default to ``n_fft`` and the
    Nyquist frequency.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int | None = None
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    preemphasis: float = 0.0
    log_floor: float = 1e-10
    mel_scale: str = "slaney"
    mel_normalize: bool = True

    def __post_init__(self) -> None:
        def bad(msg: str) -> ConfigError:
            return ConfigError(f"LogMelConfig: {msg}")

        if self.win_length is None:
            object.__setattr__(self, "win_length", self.n_fft)
        if self.fmax is None:
            object.__setattr__(self, "fmax", self.sample_rate / 2.0)
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise bad(f"sample_rate must be a positive integer (Hz), got {self.sample_rate!r}")
        n = self.n_fft
        if not isinstance(n, int) or n < 16 or n > MAX_N_FFT or n & (n - 1):
            raise bad(f"n_fft must be a power of two between 16 and {MAX_N_FFT}, got {n!r}")
        if not 1 <= self.win_length <= n:
            raise bad(f"win_length must be in [1, n_fft={n}], got {self.win_length}")
        if not 1 <= self.hop_length <= n:
            raise bad(f"hop_length must be in [1, n_fft={n}], got {self.hop_length}")
        if not 1 <= self.n_mels <= n // 2 + 1:
            raise bad(f"n_mels must be in [1, n_fft/2+1={n // 2 + 1}], got {self.n_mels}")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2.0:
            raise bad(
                f"need 0 <= fmin < fmax <= sample_rate/2 = {self.sample_rate / 2}; "
                f"got fmin={self.fmin}, fmax={self.fmax}"
            )
        if not 0.0 <= self.preemphasis < 1.0:
            raise bad(f"preemphasis must be in [0, 1), got {self.preemphasis}")
        if not self.log_floor > 0.0:
            raise bad(f"log_floor must be > 0, got {self.log_floor}")
        if self.mel_scale not in ("slaney", "htk"):
            raise bad(f"mel_scale must be 'slaney' or 'htk', got {self.mel_scale!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values for a bundle manifest."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LogMelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"LogMelConfig: unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def window(self) -> np.ndarray:
        """Periodic Hann window of win_length, zero-padded to n_fft and centred (float64)."""
        m = self.win_length
        hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(m) / m)
        left = (self.n_fft - m) // 2
        out = np.zeros(self.n_fft)
        out[left : left + m] = hann
        return out

    def filterbank(self) -> np.ndarray:
        """Mel weights, shape (n_mels, n_fft // 2 + 1)."""
        return mel_filterbank(
            self.sample_rate,
            self.n_fft,
            self.n_mels,
            self.fmin,
            self.fmax,
            scale=self.mel_scale,  # type: ignore[arg-type]
            normalize=self.mel_normalize,
        )

    def n_frames(self, n_samples: int) -> int:
        """Frames a fresh front end produces from a signal of n_samples."""
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop_length


def make_kernel(config: LogMelConfig) -> LogMelKernel:
    """The compiled log-mel kernel for a configuration (window, sparse mel bank, floor)."""
    start, offset, weight = sparse_filterbank(config.filterbank())
    return LogMelKernel(
        config.window(),
        config.hop_length,
        start,
        offset,
        weight,
        config.preemphasis,
        config.log_floor,
    )


class StreamingLogMel:
    """Feed audio blocks, get the log-mel frames they complete, shape (frames, n_mels), float32.

    ``nonfinite="raise"`` (default) rejects a block holding NaN/Inf before any state changes;
    ``"replace"`` replaces such samples with 0 and counts them in `nonfinite_replaced`, for
    streams that must go on.
    """

    def __init__(self, config: LogMelConfig | None = None, nonfinite: str = "raise") -> None:
        self.config = config or LogMelConfig()
        checks.check_policy(nonfinite)
        self.nonfinite = nonfinite
        self.nonfinite_replaced = 0
        self._kernel = make_kernel(self.config)
        self._feeders = {
            np.dtype(np.int16): self._kernel.feed_int16,
            np.dtype(np.float32): self._kernel.feed_float32,
            np.dtype(np.float64): self._kernel.feed_float64,
        }

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    @property
    def pending_samples(self) -> int:
        """Samples buffered towards the next frame."""
        return self._kernel.filled

    def frames_for(self, n_samples: int) -> int:
        """How many frames the next block of n_samples will return."""
        return self._kernel.frames_for(n_samples)

    def reset(self) -> None:
        """Start a new stream: drop buffered samples and pre-emphasis memory."""
        self._kernel.reset()

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Consume one block; return the completed frames (possibly zero rows).

        With `out` (float32, C-contiguous, shape (>= frames_for(len(block)), n_mels)) the
        frames are written there and a view of it is returned, so a caller that reuses one
        buffer allocates nothing per block.
        """
        feed = (
            self._feeders.get(block.dtype)
            if type(block) is np.ndarray and block.ndim == 1
            else None
        )
        if feed is None or not block.flags.c_contiguous:
            x = checks.audio_block(block)
            feed = self._feeders[x.dtype]
        else:  # fast path: already a contiguous mono array of a supported dtype
            x = block
        if x.dtype is not _INT16:
            x, replaced = checks.finite(x, self.nonfinite, "audio block")
            self.nonfinite_replaced += replaced
        n_frames = self._kernel.frames_for(x.shape[0])
        if out is None:
            out = np.empty((n_frames, self.config.n_mels), dtype=np.float32)
        elif not (
            out.dtype == np.float32
            and out.ndim == 2
            and out.shape[0] >= n_frames
            and out.shape[1] == self.config.n_mels
            and out.flags.c_contiguous
        ):
            raise InputError(
                f"out must be C-contiguous float32 of shape (>= {n_frames}, {self.config.n_mels}); "
                f"got {out.dtype} {out.shape}"
            )
        if x.shape[0]:
            feed(x, out)
        return out[:n_frames]


def subtract_window_mean(windows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Speech bundles' window normalisation (front_end window_norm "mean"): every window of log-mel
    frames minus its own mean over time and mel bands, so absolute level carries no information.
    Takes (frames, n_mels) or any (..., frames, n_mels) stack; float32. The same function serves
    training, calibration and the device pipeline."""
    x = np.asarray(windows, dtype=np.float32)
    return np.subtract(
        x, x.mean(axis=(-2, -1), keepdims=True, dtype=np.float64).astype(np.float32), out=out
    )


#: window_norm "loudest" takes off the mean level of a window's loudest 1/LOUDEST_DIVISOR frames.
LOUDEST_DIVISOR = 4


def subtract_loudest_mean(windows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Speech bundles' window normalisation "loudest": every window of log-mel frames minus the
    mean level of its loudest quarter of frames (a frame's level: its mean over mel bands).

    Noise fills a window's pauses and quiet frames but barely moves its loudest ones, so after
    this the speech keeps its place under noise; the whole window's mean ("mean") rises with the
    noise floor and pulls the speech down with it (on the sample clip at 10 dB SNR the loudest
    frames move by 0.3 after this against 4.0 after "mean"). Takes (frames, n_mels) or any
    (..., frames, n_mels) stack; float32; levels and their mean in float64, as the C front end.
    """
    x = np.asarray(windows, dtype=np.float32)
    level = x.mean(axis=-1, dtype=np.float64)
    n = level.shape[-1]
    k = max(1, n // LOUDEST_DIVISOR)
    top = np.partition(level, n - k, axis=-1)[..., n - k :].mean(axis=-1)
    return np.subtract(x, top.astype(np.float32)[..., None, None], out=out)


def normalise_windows(
    windows: np.ndarray, norm: str | None, out: np.ndarray | None = None
) -> np.ndarray:
    """A front end's `window_norm` ("mean", "loudest" or None) applied to a stack of windows."""
    if norm == "mean":
        return subtract_window_mean(windows, out=out)
    if norm == "loudest":
        return subtract_loudest_mean(windows, out=out)
    if norm is not None:
        raise ConfigError(f"window_norm {norm!r} is not one of 'mean', 'loudest' or null")
    x = np.asarray(windows, dtype=np.float32)
    if out is None or out is x:  # in place, as the pipeline asks: nothing to do
        return x
    out[...] = x
    return out


def log_mel(
    signal: np.ndarray, config: LogMelConfig | None = None, nonfinite: str = "raise"
) -> np.ndarray:
    """Log-mel of a whole signal, shape (frames, n_mels), float32.

    Exactly the frames a fresh `StreamingLogMel` returns for the same samples in any chunking.
    """
    return StreamingLogMel(config, nonfinite=nonfinite).process(signal)
