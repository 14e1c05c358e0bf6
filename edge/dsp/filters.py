"""Stateful multi-channel biquad filtering for EEG streams.

`SosFilterBank` runs one or several second-order-section filters over the same channels and
carries their state between blocks, so the output for any chunking equals one call of
`scipy.signal.sosfilt` over the whole recording (with the state carried through `zi`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge.dsp import checks
from edge.dsp._sos import SosKernel
from edge.errors import ConfigError, InputError

_IDENTITY_SECTION = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])


def _as_sos(sos: np.ndarray, index: int) -> np.ndarray:
    arr = np.asarray(sos, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] == 0:
        raise ConfigError(f"filter {index}: SOS must have shape (sections, 6), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"filter {index}: SOS coefficients must be finite")
    a0 = arr[:, 3:4]
    if np.any(a0 == 0.0):
        raise ConfigError(f"filter {index}: a section has a0 = 0")
    return arr / a0


class SosFilterBank:
    """K filters x C channels, state carried across blocks.

    ``filters`` is one SOS array (sections, 6) or a sequence of them (their section counts may
    differ; shorter ones are padded with pass-through sections, which change nothing).
    `process` takes (channels, samples) and returns (filters, channels, samples), float64.
    """

    def __init__(
        self,
        filters: np.ndarray | Sequence[np.ndarray],
        n_channels: int,
        nonfinite: str = "raise",
    ) -> None:
        if isinstance(filters, np.ndarray) and filters.ndim == 2:
            filters = [filters]
        sos_list = [_as_sos(f, i) for i, f in enumerate(filters)]
        if not sos_list:
            raise ConfigError("SosFilterBank needs at least one filter")
        if n_channels < 1:
            raise ConfigError(f"n_channels must be >= 1, got {n_channels}")
        n_sections = max(s.shape[0] for s in sos_list)
        stacked = np.tile(_IDENTITY_SECTION, (len(sos_list), n_sections, 1))
        for i, s in enumerate(sos_list):
            stacked[i, : s.shape[0]] = s
        checks.check_policy(nonfinite)
        self.n_channels = n_channels
        self.n_filters = len(sos_list)
        self.nonfinite = nonfinite
        self.nonfinite_replaced = 0
        self._kernel = SosKernel(np.ascontiguousarray(stacked), n_channels)

    def reset(self) -> None:
        """Zero the filter memory."""
        self._kernel.reset()

    @property
    def state(self) -> np.ndarray:
        """A copy of the memory, shape (filters, sections, channels, 2)."""
        return self._kernel.get_state()

    def set_state(self, state: np.ndarray) -> None:
        """Replace the memory (same shape as `state`), e.g. to start in steady state."""
        state = np.ascontiguousarray(state, dtype=np.float64)
        expected = self._kernel.get_state().shape
        if state.shape != expected:
            raise InputError(f"filter state must have shape {expected}, got {state.shape}")
        self._kernel.set_state(state)

    def process(
        self, block: np.ndarray, out: np.ndarray | None = None, trusted: bool = False
    ) -> np.ndarray:
        """Filter (channels, samples) -> (filters, channels, samples). `trusted`: the caller
        guarantees a C-contiguous, finite float64 (channels, samples) block (a front end's own
        per-block path), so its checks are skipped."""
        if trusted:
            x = block
        else:
            x = checks.eeg_block(block, self.n_channels)
            x, replaced = checks.finite(x, self.nonfinite, "EEG block")
            self.nonfinite_replaced += replaced
        shape = (self.n_filters, self.n_channels, x.shape[1])
        if out is None:
            out = np.empty(shape)
        elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise InputError(
                f"out must be C-contiguous float64 {shape}, got {out.dtype} {out.shape}"
            )
        self._kernel.process(x, out)
        return out
