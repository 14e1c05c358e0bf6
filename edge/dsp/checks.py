"""Input checks shared by the front-end wrappers: dtype, shape, contiguity and finiteness.

Kernels trust their inputs; these functions are where a bad block becomes a clear
`InputError` naming what was wrong and where, before any streaming state is touched.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edge.dsp import _scan
from edge.errors import ConfigError, InputError

NonFinitePolicy = Literal["raise", "replace"]
NONFINITE_POLICIES = ("raise", "replace")
_FIRST = {
    np.dtype(np.float32): _scan.first_nonfinite_f32,
    np.dtype(np.float64): _scan.first_nonfinite_f64,
}
_REPLACE = {
    np.dtype(np.float32): _scan.replace_nonfinite_f32,
    np.dtype(np.float64): _scan.replace_nonfinite_f64,
}


def check_policy(nonfinite: str) -> None:
    if nonfinite not in NONFINITE_POLICIES:
        raise ConfigError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")


def audio_block(block: object, what: str = "audio block") -> np.ndarray:
    """A 1-D, C-contiguous int16/float32/float64 view or copy of `block`."""
    x = np.asarray(block)
    if x.dtype not in (np.int16, np.float32, np.float64):
        raise InputError(
            f"{what} has dtype {x.dtype}; expected int16 PCM or float32/float64 samples in [-1, 1]"
        )
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise InputError(
            f"{what} has shape {x.shape}; expected one mono channel (samples,). "
            "Mix multi-channel audio down to mono first."
        )
    return np.ascontiguousarray(x)


def eeg_block(block: object, n_channels: int, what: str = "EEG block") -> np.ndarray:
    """A (channels, samples) C-contiguous float64 array from `block`."""
    x = np.asarray(block)
    if x.dtype.kind not in "fiu":
        raise InputError(f"{what} has dtype {x.dtype}; expected real numbers (volts or microvolts)")
    if x.ndim != 2:
        raise InputError(f"{what} has shape {x.shape}; expected (channels, samples)")
    if x.shape[0] != n_channels:
        hint = " (is it transposed?)" if x.shape[1] == n_channels else ""
        raise InputError(
            f"{what} has {x.shape[0]} channels; this front end was built for {n_channels}{hint}"
        )
    return np.ascontiguousarray(x, dtype=np.float64)


def finite(x: np.ndarray, nonfinite: NonFinitePolicy, what: str) -> tuple[np.ndarray, int]:
    """Return `x` (or a cleaned copy) and the number of NaN/Inf samples replaced by 0.

    With ``nonfinite="raise"`` the first bad sample is named in an `InputError`; with
    ``"replace"`` a copy is cleaned, so the caller's array is never modified.
    """
    first = _FIRST.get(x.dtype)
    if first is None:
        if x.dtype.kind == "f":
            raise InputError(f"{what} has dtype {x.dtype}; expected float32 or float64")
        return x, 0
    flat = x if x.ndim == 1 else x.reshape(-1)
    index = first(flat)
    if index < 0:
        return x, 0
    if nonfinite == "raise":
        where = np.unravel_index(index, x.shape)
        where_text = where[0] if len(where) == 1 else tuple(int(i) for i in where)
        raise InputError(
            f"{what} holds {flat[index]} at index {where_text}; samples must be finite. "
            "Pass nonfinite='replace' to count such samples and replace them with 0."
        )
    cleaned = x.copy()
    count = _REPLACE[x.dtype](cleaned.reshape(-1), 0.0)
    return cleaned, int(count)
