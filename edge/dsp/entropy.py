"""Band differential entropy (DE) of EEG over sliding windows, streaming.

Each channel is optionally pre-filtered (e.g. a 1-45 Hz band-pass and a mains notch), split
into bands by band-pass filters, and every `hop_s` once `window_s` of signal has arrived the
DE of each band and channel over the last window is emitted:
    DE = 0.5 * ln(2 * pi * e * variance)
which is the entropy of a Gaussian with that variance (the usual EEG emotion feature).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.dsp import designs
from edge.dsp._window_stats import WindowVarianceKernel
from edge.dsp.filters import SosFilterBank
from edge.errors import ConfigError

_LOG_2_PI_E = float(np.log(2.0 * np.pi * np.e))


class BandDifferentialEntropy:
    """(channels, samples) blocks in, (windows, channels, bands) DE values out.

    ``bands`` are names of stored designs (see `edge.dsp.designs`) or SOS arrays; ``prefilters``
    likewise, applied in order before the band split. ``variance_floor`` keeps a flat channel
    (disconnected electrode) finite: its DE is 0.5 * ln(2 pi e floor).
    """

    def __init__(
        self,
        rate_hz: int,
        n_channels: int,
        bands: Sequence[str | np.ndarray] = tuple(designs.EEG_BANDS),
        window_s: float = 1.0,
        hop_s: float = 1.0,
        prefilters: Sequence[str | np.ndarray] = (),
        variance_floor: float = 1e-20,
        nonfinite: str = "raise",
    ) -> None:
        window_length = round(window_s * rate_hz)
        hop_length = round(hop_s * rate_hz)
        if window_length < 2 or hop_length < 1:
            raise ConfigError(
                f"window_s={window_s} and hop_s={hop_s} at {rate_hz} Hz give {window_length} and "
                f"{hop_length} samples; need a window of >= 2 samples and a hop of >= 1"
            )
        if not bands:
            raise ConfigError("BandDifferentialEntropy needs at least one band")

        def resolve(item: str | np.ndarray) -> np.ndarray:
            return designs.stored_sos(item, rate_hz) if isinstance(item, str) else np.asarray(item)

        self.rate_hz = rate_hz
        self.n_channels = n_channels
        self.band_names = [b if isinstance(b, str) else f"band{i}" for i, b in enumerate(bands)]
        self.window_length = window_length
        self.hop_length = hop_length
        self.variance_floor = variance_floor
        self._prefilters = [SosFilterBank(resolve(p), n_channels, nonfinite) for p in prefilters]
        self._bands = SosFilterBank([resolve(b) for b in bands], n_channels, nonfinite)
        self._stats = WindowVarianceKernel(len(bands) * n_channels, window_length, hop_length)

    @property
    def n_bands(self) -> int:
        return len(self.band_names)

    @property
    def nonfinite_replaced(self) -> int:
        first = self._prefilters[0] if self._prefilters else self._bands
        return first.nonfinite_replaced

    def reset(self) -> None:
        for f in self._prefilters:
            f.reset()
        self._bands.reset()
        self._stats.reset()

    def process(self, block: np.ndarray) -> np.ndarray:
        """Consume (channels, samples); return DE per window, (windows, channels, bands)."""
        x = block
        for f in self._prefilters:
            x = f.process(x)[0]
        banded = self._bands.process(x)
        rows = banded.reshape(self.n_bands * self.n_channels, -1)
        n_windows = self._stats.windows_for(rows.shape[1])
        var = np.empty((n_windows, rows.shape[0]))
        self._stats.process(rows, var)
        np.maximum(var, self.variance_floor, out=var)
        de = 0.5 * (_LOG_2_PI_E + np.log(var))
        return de.reshape(n_windows, self.n_bands, self.n_channels).transpose(0, 2, 1)
