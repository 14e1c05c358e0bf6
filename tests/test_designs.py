"""The stored coefficients are exactly what scipy designs today."""

import numpy as np
from scipy import signal

from edge.dsp import designs
from scripts.design_filters import BANDPASS, BUTTER_ORDER, NOTCH_Q, RATES_HZ


def test_stored_designs_equal_a_fresh_scipy_design() -> None:
    assert designs.stored_rates() == sorted(RATES_HZ)
    for rate in RATES_HZ:
        for name, band in BANDPASS.items():
            expected = signal.butter(BUTTER_ORDER, band, btype="bandpass", fs=rate, output="sos")
            np.testing.assert_allclose(designs.stored_sos(name, rate), expected, rtol=1e-12)
        b, a = signal.iirnotch(50.0, NOTCH_Q, fs=rate)
        np.testing.assert_allclose(
            designs.stored_sos("notch_50", rate), signal.tf2sos(b, a), rtol=1e-12
        )


def test_bands_pass_their_centre_and_stop_far_away() -> None:
    rate = 128
    for name, (lo, hi) in designs.EEG_BANDS.items():
        sos = designs.stored_sos(name, rate)
        _, response = signal.sosfreqz(sos, worN=[(lo + hi) / 2, 1.0 if lo > 4 else 60.0], fs=rate)
        gain = np.abs(response)
        assert gain[0] > 0.9, name
        assert gain[1] < 0.05, name
