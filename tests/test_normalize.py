"""Baseline z-score normalisation."""

import numpy as np
import pytest

from edge.dsp import BaselineNormalizer
from edge.errors import ConfigError, InputError


def test_normalises_with_baseline_statistics(rng) -> None:
    baseline = rng.normal(5.0, 3.0, size=(4, 1000))
    norm = BaselineNormalizer.fit(baseline)
    np.testing.assert_allclose(norm.process(baseline).mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(norm.process(baseline).std(axis=1), 1.0, rtol=1e-12)
    later = rng.normal(size=(4, 10))
    np.testing.assert_allclose(
        norm.process(later),
        (later - baseline.mean(1, keepdims=True)) / baseline.std(1, keepdims=True),
    )


def test_flat_channel_is_reported_and_stays_finite() -> None:
    baseline = np.vstack([np.ones(100), np.arange(100.0)])
    norm = BaselineNormalizer.fit(baseline)
    assert norm.flat_channels == [0]
    assert np.all(np.isfinite(norm.process(np.ones((2, 5)))))


def test_errors() -> None:
    with pytest.raises(InputError, match="samples >= 2"):
        BaselineNormalizer.fit(np.zeros((3, 1)))
    bad = np.zeros((2, 50))
    bad[1, 9] = np.nan
    with pytest.raises(InputError, match=r"baseline holds nan at index \(1, 9\)"):
        BaselineNormalizer.fit(bad)
    with pytest.raises(ConfigError):
        BaselineNormalizer(np.zeros(3), np.ones(2))
    with pytest.raises(InputError, match="2 channels"):
        BaselineNormalizer(np.zeros(3), np.ones(3)).process(np.zeros((2, 4)))
