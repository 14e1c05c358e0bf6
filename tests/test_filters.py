"""Stateful SOS filter bank: equals scipy.signal.sosfilt with carried state, for any chunking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from edge.dsp import SosFilterBank, stored_sos
from edge.errors import ConfigError, InputError
from tests.conftest import split_at

pytestmark = pytest.mark.device


@settings(max_examples=50, deadline=None)
@given(cuts=st.lists(st.integers(0, 2000), max_size=10), n_channels=st.integers(1, 16))
def test_any_chunking_equals_one_sosfilt_call(cuts, n_channels) -> None:
    x = np.random.default_rng(n_channels).standard_normal((n_channels, 700)) * 50e-6
    sos = stored_sos("alpha", 128)
    bank = SosFilterBank(sos, n_channels)
    got = np.concatenate([bank.process(p)[0] for p in split_at(x, cuts)], axis=1)
    np.testing.assert_allclose(got, signal.sosfilt(sos, x, axis=-1), rtol=1e-12, atol=1e-20)


def test_state_matches_scipy_zi_after_each_block(rng) -> None:
    sos = signal.butter(6, [2.0, 30.0], btype="bandpass", fs=250, output="sos")
    x = rng.standard_normal((8, 1000))
    bank = SosFilterBank(sos, 8)
    zi = np.zeros((sos.shape[0], 8, 2))
    for part in np.array_split(x, 7, axis=1):
        ours = bank.process(part)[0]
        ref, zi = signal.sosfilt(sos, part, axis=-1, zi=zi)
        np.testing.assert_array_equal(ours, ref)
    np.testing.assert_array_equal(bank.state[0], zi.transpose(0, 1, 2))


def test_several_filters_of_different_lengths_run_side_by_side(rng) -> None:
    x = rng.standard_normal((4, 512))
    filters = [stored_sos(name, 256) for name in ("theta", "gamma", "notch_50")]
    out = SosFilterBank(filters, 4).process(x)
    assert out.shape == (3, 4, 512)
    for k, sos in enumerate(filters):
        np.testing.assert_array_equal(out[k], signal.sosfilt(sos, x, axis=-1))


def test_unnormalised_sections_are_normalised() -> None:
    b, a = signal.butter(2, 0.2)
    sos = np.concatenate([b, a])[None, :] * 3.0
    x = np.random.default_rng(0).standard_normal((1, 64))
    np.testing.assert_allclose(
        SosFilterBank(sos, 1).process(x)[0], signal.lfilter(b, a, x), atol=1e-12
    )


def test_state_can_be_saved_and_restored(rng) -> None:
    x = rng.standard_normal((3, 300))
    bank = SosFilterBank(stored_sos("alpha", 128), 3)
    bank.process(x[:, :100])
    saved = bank.state
    first = bank.process(x[:, 100:]).copy()
    bank.set_state(saved)
    np.testing.assert_array_equal(bank.process(x[:, 100:]), first)
    with pytest.raises(InputError, match="state must have shape"):
        bank.set_state(saved[:, :1])


def test_reset_forgets_history(rng) -> None:
    x = rng.standard_normal((2, 200))
    bank = SosFilterBank(stored_sos("beta", 128), 2)
    first = bank.process(x).copy()
    bank.reset()
    np.testing.assert_array_equal(bank.process(x), first)


def test_notch_removes_mains_hum() -> None:
    rate = 250
    t = np.arange(rate * 4) / rate
    hum = np.sin(2 * np.pi * 50 * t)[None, :]
    out = SosFilterBank(stored_sos("notch_50", rate), 1).process(hum)[0, 0]
    assert np.std(out[-rate:]) < 0.02 * np.std(hum)


def test_errors() -> None:
    bank = SosFilterBank(stored_sos("theta", 128), 14)
    with pytest.raises(InputError, match="transposed"):
        bank.process(np.zeros((128, 14)))
    with pytest.raises(InputError, match="3 channels"):
        bank.process(np.zeros((3, 10)))
    bad = np.zeros((14, 10))
    bad[3, 7] = np.inf
    with pytest.raises(InputError, match=r"\(3, 7\)"):
        bank.process(bad)
    assert bank.process(np.zeros((14, 0))).shape == (1, 14, 0)
    with pytest.raises(ConfigError, match="shape"):
        SosFilterBank(np.zeros((2, 5)), 1)
    with pytest.raises(ConfigError, match="no stored filter designs for 300 Hz"):
        stored_sos("theta", 300)
