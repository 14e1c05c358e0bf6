"""Mel scale and triangular mel filterbanks, in numpy only (no librosa on a device).

Two scales: Slaney's (linear below 1 kHz, logarithmic above; the librosa default) and HTK's
(2595 * log10(1 + f / 700)). Filterbank weights can be area-normalised as in Slaney's
Auditory Toolbox. `sparse_filterbank` keeps only each band's non-zero run of FFT bins, which
is how the compiled kernel walks it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edge.errors import ConfigError

MelScale = Literal["slaney", "htk"]

_SLANEY_LINEAR_HZ_PER_MEL = 200.0 / 3.0
_SLANEY_BREAK_HZ = 1000.0
_SLANEY_BREAK_MEL = _SLANEY_BREAK_HZ / _SLANEY_LINEAR_HZ_PER_MEL
_SLANEY_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(freq_hz: np.ndarray | float, scale: MelScale = "slaney") -> np.ndarray:
    """Frequencies in Hz -> mels on the chosen scale (same shape)."""
    f = np.asarray(freq_hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_LINEAR_HZ_PER_MEL
    with np.errstate(divide="ignore"):
        logpart = (
            _SLANEY_BREAK_MEL + np.log(np.maximum(f, 1e-12) / _SLANEY_BREAK_HZ) / _SLANEY_LOG_STEP
        )
    return np.where(f >= _SLANEY_BREAK_HZ, logpart, linear)


def mel_to_hz(mels: np.ndarray | float, scale: MelScale = "slaney") -> np.ndarray:
    """Mels on the chosen scale -> frequencies in Hz (same shape)."""
    m = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = m * _SLANEY_LINEAR_HZ_PER_MEL
    logpart = _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOG_STEP * (m - _SLANEY_BREAK_MEL))
    return np.where(m >= _SLANEY_BREAK_MEL, logpart, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    scale: MelScale = "slaney",
    normalize: bool = True,
) -> np.ndarray:
    """Triangular mel weights, shape (n_mels, n_fft // 2 + 1), float64.

    Band i rises from centre i-1 to centre i and falls to centre i+1, centres equally spaced
    on the mel scale between fmin and fmax (Hz). With `normalize`, each triangle is scaled by
    2 / (its width in Hz) so bands carry equal energy for white noise.
    """
    fmax = sample_rate / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0:
        raise ConfigError(
            f"need 0 <= fmin < fmax <= sample_rate/2; got fmin={fmin}, fmax={fmax}, "
            f"sample_rate={sample_rate}"
        )
    if scale not in ("slaney", "htk"):
        raise ConfigError(f"mel scale must be 'slaney' or 'htk', got {scale!r}")
    bin_hz = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges_hz = mel_to_hz(
        np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale
    )
    widths = np.diff(edges_hz)
    offsets = edges_hz[:, None] - bin_hz[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if normalize:
        weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights


def sparse_filterbank(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each band's first non-zero bin, CSR-style offsets into one flat weight array, the weights.

    A band with no non-zero weight (too many mels for the FFT size) keeps one zero weight, so
    its output is the log floor rather than an error.
    """
    starts, offsets, flat = [], [0], []
    for row in weights:
        nz = np.flatnonzero(row)
        lo, hi = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 1)
        starts.append(lo)
        flat.append(row[lo:hi])
        offsets.append(offsets[-1] + hi - lo)
    return (
        np.asarray(starts, dtype=np.intc),
        np.asarray(offsets, dtype=np.intc),
        np.concatenate(flat).astype(np.float64),
    )
