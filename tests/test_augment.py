"""Device augmentation for distillation: deterministic per key, and the noise gate's variants."""

from __future__ import annotations

import numpy as np

from distill.audio import SAMPLE_RATE, augment_device, noise_gate


def bursts(seconds: float = 3.0) -> np.ndarray:
    """Voiced-like bursts (a 200 Hz tone with harmonics) of 0.4 s with 0.3 s pauses."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in range(1, 6))
    return (0.3 * tone * ((t % 0.7) < 0.4)).astype(np.float32)


def test_the_gate_zeroes_quiet_blocks_only() -> None:
    x = bursts() + 1e-3 * np.random.default_rng(0).standard_normal(3 * SAMPLE_RATE)
    y = noise_gate(x, threshold_rms=0.01)
    blocks = y[: len(y) // 160 * 160].reshape(-1, 160)
    zero = (blocks == 0).all(axis=1)
    assert 0.3 < zero.mean() < 0.5  # the pauses (3/7 of the time, less their edge blocks)
    assert np.array_equal(y[y != 0], x[y != 0])
    assert np.array_equal(noise_gate(x[:100], 1.0), x[:100])  # under one block: untouched


def test_gated_variants_keep_the_other_draws_and_silence_the_pauses() -> None:
    x = bursts(2.0)
    gated = 0
    for v in range(1, 31):
        plain = augment_device(x, "clip.wav", v)
        with_gate = augment_device(x, "clip.wav", v, gate=True)
        assert np.array_equal(with_gate, augment_device(x, "clip.wav", v, gate=True))
        if np.array_equal(with_gate, plain):
            continue
        gated += 1
        # Where the gate let the sound through it is the variant without it (the same peak
        # scaling); what it took out is whole 10 ms blocks of the pauses.
        silent = with_gate == 0
        assert np.allclose(with_gate[~silent], plain[~silent], atol=1e-6)
        assert 0.02 < silent.mean() < 3 / 7
    assert 2 <= gated <= 10  # a third of those with 15 dB SNR or more: about 1 in 6
    assert np.array_equal(augment_device(x, "clip.wav", 0, gate=True), x)
