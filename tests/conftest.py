"""Shared fixtures: deterministic signals and the optional ../shared data folder."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

SHARED = Path(__file__).resolve().parents[2] / "shared"

# `make test` runs three pytest workers on this 2-core machine (pytest-xdist): each of them, and
# every subprocess it starts, takes one core's worth of threads. Set before any test module
# imports torch (which reads it once); subprocesses inherit it. Spinning OpenMP threads of several
# workers otherwise take turns on the same cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

# Under emulation (make arm64-check: `--hypothesis-profile emulated`) a call takes 10-50x as long
# as here, so hypothesis's 200 ms per-example deadline would fail correct code.
settings.register_profile("emulated", deadline=None)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared data/teachers folder sits beside the checkout")
    return SHARED


def chirp(rate_hz: int, seconds: float, f0: float = 100.0, f1: float = 4000.0) -> np.ndarray:
    """A linear sweep plus a little noise: energy in every mel band over time."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
    noise = np.random.default_rng(7).standard_normal(t.size)
    return (0.5 * np.sin(phase) + 0.01 * noise).astype(np.float64)


def split_at(x: np.ndarray, cuts: list[int]) -> list[np.ndarray]:
    """Pieces of x along its last axis, cut at `cuts` (taken modulo the length, any order)."""
    n = x.shape[-1]
    bounds = [0, *sorted(c % (n + 1) for c in cuts), n]
    return [x[..., a:b] for a, b in pairwise(bounds)]
