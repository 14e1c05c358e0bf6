"""Rational resampling (e.g. 22,050 -> 16,000 Hz audio, 250 -> 128 Hz EEG), streaming.

The anti-aliasing filter is a Kaiser-windowed sinc (beta 5, 20 * max(up, down) + 1 taps,
cut-off at the lower Nyquist), designed here in numpy: the same design and output alignment
as `scipy.signal.resample_poly`'s defaults, so a stream pushed through `Resampler` and then
flushed equals one `resample_poly` call on the whole signal. While streaming, output lags
input by about 10 * max(up, down) / up input samples (the filter's half length).
"""

from __future__ import annotations

from math import gcd

import numpy as np

from edge.dsp import checks
from edge.dsp._resample import PolyphaseKernel
from edge.errors import ConfigError, InputError

KAISER_BETA = 5.0


def resample_factors(rate_in_hz: int, rate_out_hz: int) -> tuple[int, int]:
    """(up, down) in lowest terms."""
    if (
        int(rate_in_hz) != rate_in_hz
        or int(rate_out_hz) != rate_out_hz
        or rate_in_hz <= 0
        or rate_out_hz <= 0
    ):
        raise ConfigError(
            f"sample rates must be positive integers (Hz); got {rate_in_hz} -> {rate_out_hz}"
        )
    g = gcd(int(rate_in_hz), int(rate_out_hz))
    return int(rate_out_hz) // g, int(rate_in_hz) // g


def lowpass_taps(up: int, down: int) -> np.ndarray:
    """Kaiser-windowed sinc of 20 * max(up, down) + 1 taps, unit DC gain, times `up`."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    m = np.arange(2 * half_len + 1) - half_len
    cutoff = 1.0 / max_rate
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half_len + 1, KAISER_BETA)
    return h / h.sum() * up


class Resampler:
    """Streaming resampler for mono (samples,) or multi-channel (channels, samples) blocks.

    Returns float64 in the input's layout. `flush` ends the stream: it emits the remaining
    outputs (treating what follows as silence) so the total equals ceil(n_in * up / down).
    """

    def __init__(
        self, rate_in_hz: int, rate_out_hz: int, n_channels: int = 1, nonfinite: str = "raise"
    ) -> None:
        self.up, self.down = resample_factors(rate_in_hz, rate_out_hz)
        self.rate_in_hz = int(rate_in_hz)
        self.rate_out_hz = int(rate_out_hz)
        if n_channels < 1:
            raise ConfigError(f"n_channels must be >= 1, got {n_channels}")
        checks.check_policy(nonfinite)
        self.n_channels = n_channels
        self.nonfinite = nonfinite
        self.nonfinite_replaced = 0
        self._passthrough = self.up == self.down == 1
        h = lowpass_taps(self.up, self.down)
        half_len = (h.size - 1) // 2
        pre_pad = self.down - half_len % self.down
        self._first_out = (half_len + pre_pad) // self.down
        self._kernel = PolyphaseKernel(
            np.concatenate([np.zeros(pre_pad), h]), self.up, self.down, n_channels, self._first_out
        )
        self._emitted = 0
        self._flushed = False

    @property
    def passthrough(self) -> bool:
        """Equal rates: `process` returns a checked copy of its input, and no delay."""
        return self._passthrough

    @property
    def flushed(self) -> bool:
        return self._flushed

    @property
    def delay_s(self) -> float:
        """How far output lags input while streaming, in seconds."""
        return (
            0.0 if self._passthrough else 10 * max(self.up, self.down) / self.up / self.rate_in_hz
        )

    def reset(self) -> None:
        self._kernel.reset(self._first_out)
        self._emitted = 0
        self._flushed = False

    def _as_2d(self, block: np.ndarray) -> tuple[np.ndarray, bool]:
        x = np.asarray(block)
        if x.dtype.kind not in "fiu":
            raise InputError(f"resampler input has dtype {x.dtype}; expected real numbers")
        mono = x.ndim == 1
        if mono:
            if self.n_channels != 1:
                raise InputError(
                    f"got a 1-D block but this resampler has {self.n_channels} channels"
                )
            x = x[None, :]
        x = checks.eeg_block(x, self.n_channels, "resampler input")
        x, replaced = checks.finite(x, self.nonfinite, "resampler input")
        self.nonfinite_replaced += replaced
        return x, mono

    def _pull(self, count: int, mono: bool) -> np.ndarray:
        out = np.empty((self.n_channels, count))
        if count:
            self._kernel.pull(out, count)
        self._emitted += count
        return out[0] if mono else out

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume a block; return the output samples that are now complete."""
        if self._flushed:
            raise InputError("this stream was flushed; call reset() to start a new one")
        x, mono = self._as_2d(block)
        if self._passthrough:
            return x[0].copy() if mono else x.copy()
        count = self._kernel.outputs_ready(x.shape[1], 1 << 62)
        if x.shape[1]:
            self._kernel.push(x)
        return self._pull(count, mono)

    def flush(self, mono: bool | None = None) -> np.ndarray:
        """End the stream and return the outputs still owed."""
        mono = self.n_channels == 1 if mono is None else mono
        self._flushed = True
        n_in = self._kernel.n_in
        if self._passthrough or n_in == 0:
            return self._pull(0, mono)
        total = -(-n_in * self.up // self.down)
        return self._pull(max(total - self._emitted, 0), mono)


def resample(x: np.ndarray, rate_in_hz: int, rate_out_hz: int) -> np.ndarray:
    """Resample a whole signal along its last axis ((samples,) or (channels, samples))."""
    arr = np.asarray(x)
    channels = 1 if arr.ndim == 1 else arr.shape[0]
    r = Resampler(rate_in_hz, rate_out_hz, n_channels=channels)
    head = r.process(arr)
    tail = r.flush(mono=arr.ndim == 1)
    return np.concatenate([head, tail], axis=-1)
