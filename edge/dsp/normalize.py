"""Baseline z-score normalisation of EEG channels.

Statistics come from a resting baseline recording (for DREAMER, the middle of the pre-clip
baseline), then every later block is normalised with them: (x - mean) / std per channel.
"""

from __future__ import annotations

import numpy as np

from edge.dsp import checks
from edge.errors import ConfigError, InputError


class BaselineNormalizer:
    """Per-channel z-score with statistics fixed from a baseline.

    ``std_floor`` stops a flat baseline channel from turning the stream into Inf; such
    channels are listed in `flat_channels` so a pipeline can flag poor contact.
    """

    def __init__(self, mean: np.ndarray, std: np.ndarray, std_floor: float = 1e-12) -> None:
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if mean.shape != std.shape or mean.size == 0:
            raise ConfigError(
                f"mean and std must be equal-length vectors, got {mean.shape} and {std.shape}"
            )
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)):
            raise ConfigError("baseline mean must be finite and std finite and >= 0")
        self.flat_channels = [int(i) for i in np.flatnonzero(std < std_floor)]
        self.mean = mean
        self.std = np.maximum(std, std_floor)
        self._mean_col = self.mean[:, None]
        self._inv_std_col = (1.0 / self.std)[:, None]

    @property
    def n_channels(self) -> int:
        return self.mean.size

    @classmethod
    def fit(cls, baseline: np.ndarray, std_floor: float = 1e-12) -> BaselineNormalizer:
        """Statistics of a baseline recording, shape (channels, samples), at least 2 samples."""
        x = np.asarray(baseline)
        if x.ndim != 2 or x.shape[1] < 2:
            raise InputError(f"baseline must be (channels, samples >= 2), got shape {x.shape}")
        x = checks.eeg_block(x, x.shape[0], "baseline")
        checks.finite(x, "raise", "baseline")
        return cls(x.mean(axis=1), x.std(axis=1), std_floor)

    def process(self, block: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Normalise (channels, samples) -> float64 of the same shape."""
        x = checks.eeg_block(block, self.n_channels)
        if out is None:
            out = np.empty_like(x)
        np.subtract(x, self._mean_col, out=out)
        np.multiply(out, self._inv_std_col, out=out)
        return out
