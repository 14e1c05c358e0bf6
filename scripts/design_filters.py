"""Design the EEG filters offline with scipy and store their coefficients as numbers.

Devices read `edge/dsp/data/filter_designs.json` and never need scipy. Run after changing a
design: `python scripts/design_filters.py`; `tests/test_designs.py` checks the stored numbers
still equal what scipy designs.
"""

from __future__ import annotations

import json
from pathlib import Path

import scipy
from scipy import signal

RATES_HZ = (125, 128, 200, 250, 256, 512)
BUTTER_ORDER = 4
NOTCH_Q = 30.0
BANDPASS = {
    "bandpass_1_45": (1.0, 45.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}
NOTCH_HZ = {"notch_50": 50.0, "notch_60": 60.0}
OUT = Path(__file__).resolve().parents[1] / "edge" / "dsp" / "data" / "filter_designs.json"


def design_all() -> dict:
    designs: dict[str, dict] = {}
    for rate in RATES_HZ:
        per_rate: dict[str, dict] = {}
        for name, band in BANDPASS.items():
            sos = signal.butter(BUTTER_ORDER, band, btype="bandpass", fs=rate, output="sos")
            per_rate[name] = {
                "kind": "butter_bandpass",
                "order": BUTTER_ORDER,
                "band_hz": list(band),
                "sos": sos.tolist(),
            }
        for name, f0 in NOTCH_HZ.items():
            if f0 < rate / 2:
                b, a = signal.iirnotch(f0, NOTCH_Q, fs=rate)
                per_rate[name] = {
                    "kind": "iirnotch",
                    "freq_hz": f0,
                    "q": NOTCH_Q,
                    "sos": signal.tf2sos(b, a).tolist(),
                }
        designs[str(rate)] = per_rate
    return {
        "schema": 1,
        "generator": f"scripts/design_filters.py with scipy {scipy.__version__}",
        "designs": designs,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(design_all(), indent=1) + "\n")
    print(f"wrote {OUT}")
