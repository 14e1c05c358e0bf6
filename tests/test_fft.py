"""The compiled real FFT equals numpy's for every supported size."""

import numpy as np
import pytest
from edge.dsp._fft import RealFFT

pytestmark = pytest.mark.device


@pytest.mark.parametrize("n_fft", [4, 8, 16, 64, 256, 512, 1024, 2048])
def test_power_spectrum_matches_numpy(n_fft: int, rng: np.random.Generator) -> None:
    frame = rng.standard_normal(n_fft)
    out = np.empty(n_fft // 2 + 1)
    RealFFT(n_fft).power_spectrum(frame, out)
    expected = np.abs(np.fft.rfft(frame)) ** 2
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10 * expected.max())


def test_pure_tone_lands_in_its_bin() -> None:
    n_fft, k = 512, 37
    frame = np.cos(2 * np.pi * k * np.arange(n_fft) / n_fft)
    out = np.empty(n_fft // 2 + 1)
    RealFFT(n_fft).power_spectrum(frame, out)
    assert np.argmax(out) == k
    assert out[k] == pytest.approx((n_fft / 2) ** 2)


@pytest.mark.parametrize("n_fft", [0, 3, 6, 100])
def test_rejects_sizes_that_are_not_powers_of_two(n_fft: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        RealFFT(n_fft)
