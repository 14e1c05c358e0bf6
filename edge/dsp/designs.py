"""Filter coefficients designed offline (scipy) and stored as numbers, so a device needs no scipy.

`scripts/design_filters.py` writes `data/filter_designs.json`: for each EEG sample rate, order-4
Butterworth band-passes (broadband 1-45 Hz and the theta/alpha/beta/gamma bands) and 50/60 Hz
notches, as second-order sections.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from types import MappingProxyType

import numpy as np

from edge.errors import ConfigError

#: The conventional EEG bands (Hz) used for differential entropy, in output order.
EEG_BANDS = MappingProxyType(
    {"theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0), "gamma": (30.0, 45.0)}
)


@cache
def _table() -> dict:
    text = resources.files("edge.dsp").joinpath("data/filter_designs.json").read_text()
    return json.loads(text)["designs"]


def available(rate_hz: int) -> list[str]:
    """Names of the stored designs for one sample rate."""
    return sorted(_table().get(str(int(rate_hz)), {}))


def stored_rates() -> list[int]:
    return sorted(int(r) for r in _table())


def stored_sos(name: str, rate_hz: int) -> np.ndarray:
    """Second-order sections (sections, 6) of a stored design at a sample rate (Hz)."""
    per_rate = _table().get(str(int(rate_hz)))
    if per_rate is None:
        raise ConfigError(
            f"no stored filter designs for {rate_hz} Hz; stored rates: {stored_rates()}. "
            "Resample to one of them or pass your own SOS coefficients."
        )
    if name not in per_rate:
        raise ConfigError(
            f"no stored design {name!r} at {rate_hz} Hz; available: {sorted(per_rate)}"
        )
    return np.asarray(per_rate[name]["sos"], dtype=np.float64)
