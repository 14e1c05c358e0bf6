"""Streaming rational resampling equals scipy.signal.resample_poly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from edge.dsp import Resampler, resample
from edge.dsp.resample import resample_factors
from edge.errors import ConfigError, InputError
from tests.conftest import split_at

pytestmark = pytest.mark.device

RATE_PAIRS = [
    (250, 128),
    (256, 128),
    (22050, 16000),
    (44100, 16000),
    (48000, 16000),
    (8000, 16000),
    (125, 128),
    (16000, 16000),
]


@pytest.mark.parametrize(("rate_in", "rate_out"), RATE_PAIRS)
def test_batch_equals_resample_poly(rate_in, rate_out, rng) -> None:
    up, down = resample_factors(rate_in, rate_out)
    x = rng.standard_normal((3, 1531))
    np.testing.assert_allclose(
        resample(x, rate_in, rate_out), signal.resample_poly(x, up, down, axis=-1), atol=1e-12
    )
    np.testing.assert_allclose(
        resample(x[0], rate_in, rate_out), signal.resample_poly(x[0], up, down), atol=1e-12
    )


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(0, 3000), max_size=10), pair=st.sampled_from(RATE_PAIRS[:5]))
def test_streaming_then_flush_equals_one_call(cuts, pair) -> None:
    x = np.random.default_rng(len(cuts)).standard_normal(997)
    r = Resampler(*pair)
    parts = [r.process(piece) for piece in split_at(x, cuts)]
    got = np.concatenate([*parts, r.flush()])
    np.testing.assert_allclose(got, resample(x, *pair), atol=1e-12)


def test_tone_survives_and_alias_is_removed() -> None:
    t = np.arange(44100) / 44100
    x = np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 12000 * t)
    y = resample(x, 44100, 16000)
    spec = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(y.size - 4000)))
    freqs = np.fft.rfftfreq(y.size - 4000, 1 / 16000)
    assert abs(freqs[np.argmax(spec)] - 440) < 2
    alias = spec[np.abs(freqs - 4000) < 20].max()
    assert alias < 1e-3 * spec.max()


def test_streaming_lag_is_the_stated_delay() -> None:
    r = Resampler(250, 128)
    assert r.delay_s == pytest.approx(10 * 125 / 64 / 250)
    out = r.process(np.zeros(250))
    assert 128 - out.size == pytest.approx(r.delay_s * 128, abs=2)


def test_errors() -> None:
    with pytest.raises(ConfigError):
        Resampler(0, 16000)
    with pytest.raises(InputError, match="3 channels"):
        Resampler(250, 128, n_channels=3).process(np.zeros(10))
    r = Resampler(250, 128)
    r.flush()
    with pytest.raises(InputError, match="flushed"):
        r.process(np.zeros(3))
    r.reset()
    assert r.process(np.zeros(0)).shape == (0,)
