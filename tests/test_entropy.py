"""Band differential entropy against a scipy + numpy reference, streaming and batch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from edge.dsp import BandDifferentialEntropy, stored_sos
from edge.errors import ConfigError

pytestmark = pytest.mark.device


def reference_de(x, rate, bands, window, hop, prefilters=()):
    for p in prefilters:
        x = signal.sosfilt(stored_sos(p, rate), x, axis=-1)
    out = []
    for band in bands:
        y = signal.sosfilt(stored_sos(band, rate), x, axis=-1)
        starts = range(0, y.shape[1] - window + 1, hop)
        out.append(
            [0.5 * np.log(2 * np.pi * np.e * y[:, s : s + window].var(axis=1)) for s in starts]
        )
    return np.asarray(out).transpose(1, 2, 0)


@pytest.mark.parametrize(("window_s", "hop_s"), [(1.0, 1.0), (1.0, 0.25), (2.0, 0.5)])
def test_matches_reference_for_any_block_size(window_s, hop_s, rng) -> None:
    rate, channels = 128, 14
    x = rng.standard_normal((channels, rate * 6)) * 20e-6
    bands = ["theta", "alpha", "beta", "gamma"]
    expected = reference_de(
        x, rate, bands, int(window_s * rate), int(hop_s * rate), ["bandpass_1_45"]
    )
    for block in (7, 128, 1000):
        de = BandDifferentialEntropy(
            rate, channels, bands, window_s, hop_s, prefilters=["bandpass_1_45"]
        )
        parts = [de.process(x[:, s : s + block]) for s in range(0, x.shape[1], block)]
        got = np.concatenate(parts)
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_stronger_alpha_gives_higher_alpha_entropy() -> None:
    rate = 256
    t = np.arange(rate * 3) / rate
    noise = np.random.default_rng(3).standard_normal((2, t.size)) * 1e-6
    x = noise.copy()
    x[1] += 10e-6 * np.sin(2 * np.pi * 10 * t)
    de = BandDifferentialEntropy(rate, 2).process(x)
    rise = de[-1, 1] - de[-1, 0]  # per band: channel with the 10 Hz rhythm minus noise only
    assert np.argmax(rise) == 1
    assert rise[1] > 2.0
    assert abs(rise[3]) < 0.5  # gamma (30-45 Hz) is far from 10 Hz


def test_flat_channel_stays_finite() -> None:
    de = BandDifferentialEntropy(128, 3, variance_floor=1e-20).process(np.zeros((3, 256)))
    assert np.all(np.isfinite(de))
    np.testing.assert_allclose(de, 0.5 * np.log(2 * np.pi * np.e * 1e-20))


def test_bad_window_is_refused() -> None:
    with pytest.raises(ConfigError, match="window"):
        BandDifferentialEntropy(128, 14, window_s=0.001)
