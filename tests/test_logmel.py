"""Streaming log-mel: agreement with librosa and a numpy reference, chunking invariance, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.dsp import LogMelConfig, StreamingLogMel, log_mel, mel_filterbank
from edge.dsp.logmel import normalise_windows
from edge.errors import ConfigError, InputError
from tests.conftest import chirp, split_at


def numpy_log_mel(x: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """Reference: pre-emphasis, framing, window, np.fft.rfft, dense mel matmul, log."""
    x = x.astype(np.float64)
    if cfg.preemphasis:
        x = np.concatenate([x[:1], x[1:] - cfg.preemphasis * x[:-1]])
    n = cfg.n_frames(x.size)
    idx = np.arange(cfg.n_fft)[None, :] + cfg.hop_length * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * cfg.window(), axis=1)) ** 2
    return np.log(np.maximum(spec @ cfg.filterbank().T, cfg.log_floor))


@pytest.mark.parametrize(
    ("n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax"),
    [
        (512, 512, 160, 64, 0.0, None),
        (512, 400, 160, 40, 20.0, 7600.0),
        (1024, 1024, 256, 128, 0.0, 8000.0),
        (256, 200, 80, 26, 50.0, 4000.0),
    ],
)
def test_matches_librosa_melspectrogram(n_fft, win_length, hop_length, n_mels, fmin, fmax) -> None:
    sr = 16000
    y = chirp(sr, 1.5)
    cfg = LogMelConfig(
        sample_rate=sr,
        n_fft=n_fft,
        win_length=win_length,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    )
    ours = log_mel(y, cfg)
    ref = librosa.feature.melspectrogram(
        y=y,
        sr=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window="hann",
        center=False,
        power=2.0,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    ).T
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, np.log(np.maximum(ref, cfg.log_floor)), atol=2e-5)


def test_filterbank_matches_librosa_for_both_scales() -> None:
    for htk in (False, True):
        ours = mel_filterbank(22050, 2048, 80, 30.0, 9000.0, scale="htk" if htk else "slaney")
        ref = librosa.filters.mel(sr=22050, n_fft=2048, n_mels=80, fmin=30.0, fmax=9000.0, htk=htk)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)


def test_matches_numpy_reference_with_preemphasis_and_int16() -> None:
    cfg = LogMelConfig(n_fft=512, hop_length=160, n_mels=64, preemphasis=0.97)
    pcm = (chirp(16000, 1.0) * 20000).astype(np.int16)
    ours = log_mel(pcm, cfg)
    np.testing.assert_allclose(ours, numpy_log_mel(pcm / 32768.0, cfg), atol=2e-5)


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=4000), min_size=0, max_size=12),
    preemphasis=st.sampled_from([0.0, 0.97]),
    dtype=st.sampled_from(["int16", "float32", "float64"]),
)
def test_streaming_equals_batch_for_any_chunking(cuts, preemphasis, dtype) -> None:
    cfg = LogMelConfig(n_fft=512, hop_length=160, n_mels=40, preemphasis=preemphasis)
    x = chirp(16000, 0.25)
    x = (x * 30000).astype(np.int16) if dtype == "int16" else x.astype(dtype)
    batch = log_mel(x, cfg)
    stream = StreamingLogMel(cfg)
    parts = [stream.process(piece) for piece in split_at(x, cuts)]
    np.testing.assert_array_equal(np.concatenate(parts), batch)


def test_frames_for_predicts_each_block_and_out_buffer_is_reused() -> None:
    stream = StreamingLogMel(LogMelConfig(n_fft=512, hop_length=160, n_mels=32))
    out = np.empty((8, 32), dtype=np.float32)
    x = chirp(16000, 0.2).astype(np.float32)
    got = []
    for start in range(0, x.size, 100):
        expected = stream.frames_for(x[start : start + 100].size)
        frames = stream.process(x[start : start + 100], out=out)
        assert frames.shape == (expected, 32)
        assert expected == 0 or np.shares_memory(frames, out)
        got.append(frames.copy())
    np.testing.assert_array_equal(np.concatenate(got), log_mel(x, stream.config))


def test_silence_gives_the_log_floor_and_empty_block_is_a_no_op() -> None:
    cfg = LogMelConfig()
    stream = StreamingLogMel(cfg)
    assert stream.process(np.zeros(0, dtype=np.float32)).shape == (0, 64)
    assert stream.pending_samples == 0
    frames = stream.process(np.zeros(16000, dtype=np.int16))
    assert frames.shape == (cfg.n_frames(16000), 64)
    np.testing.assert_allclose(frames, np.log(cfg.log_floor), rtol=1e-6)


def test_nonfinite_is_rejected_before_state_changes() -> None:
    stream = StreamingLogMel()
    stream.process(np.zeros(300, dtype=np.float32))
    bad = np.zeros(1000, dtype=np.float32)
    bad[417] = np.nan
    with pytest.raises(InputError, match="index 417"):
        stream.process(bad)
    assert stream.pending_samples == 300


def test_nonfinite_replace_counts_and_leaves_caller_array_alone() -> None:
    stream = StreamingLogMel(nonfinite="replace")
    x = chirp(16000, 0.1).astype(np.float32)
    x[[5, 50]] = [np.inf, np.nan]
    frames = stream.process(x)
    assert stream.nonfinite_replaced == 2
    assert np.isnan(x[50])
    assert np.all(np.isfinite(frames))
    clean = x.copy()
    clean[[5, 50]] = 0
    np.testing.assert_array_equal(frames, log_mel(clean))


@pytest.mark.parametrize(
    ("block", "match"),
    [
        (np.zeros(10, dtype=np.int32), "dtype int32"),
        (np.zeros((2, 10), dtype=np.float32), "mono"),
        (np.zeros(10, dtype=np.complex64), "dtype complex64"),
    ],
)
def test_bad_blocks_get_clear_errors(block, match) -> None:
    with pytest.raises(InputError, match=match):
        StreamingLogMel().process(block)


def test_column_vector_and_strided_blocks_are_accepted() -> None:
    x = chirp(16000, 0.1).astype(np.float32)
    expected = log_mel(x)
    np.testing.assert_array_equal(StreamingLogMel().process(x[:, None]), expected)
    doubled = np.repeat(x, 2)
    np.testing.assert_array_equal(StreamingLogMel().process(doubled[::2]), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_fft": 500},
        {"n_fft": 4096},
        {"hop_length": 0},
        {"win_length": 1024},
        {"n_mels": 300},
        {"fmax": 9000.0},
        {"fmin": 5000.0, "fmax": 4000.0},
        {"preemphasis": 1.0},
        {"log_floor": 0.0},
        {"mel_scale": "bark"},
    ],
)
def test_invalid_config_is_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        LogMelConfig(**kwargs)


def test_config_round_trips_through_a_dict() -> None:
    cfg = LogMelConfig(n_mels=26, fmax=8000.0, preemphasis=0.5)
    assert LogMelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        LogMelConfig.from_dict({**cfg.to_dict(), "center": True})


def test_window_norms_take_off_the_mean_or_the_loudest_quarters_level() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(-8.0, 0.5, (2, 100, 40)).astype(np.float32)
    w[:, :25] += 6.0  # 25 loud frames: the loudest quarter
    level = w.astype(np.float64).mean(axis=2)
    loud = normalise_windows(w, "loudest")
    want = level[:, :25].mean(axis=1)
    np.testing.assert_allclose(loud, w - want[:, None, None].astype(np.float32), atol=1e-6)
    mean = normalise_windows(w, "mean")
    assert abs(float(mean.mean())) < 1e-5
    np.testing.assert_array_equal(normalise_windows(w, None), w)
    # Noise in the quiet three quarters moves "mean" and leaves "loudest" where it was.
    noisy = w.copy()
    noisy[:, 25:] += 3.0
    assert np.abs(normalise_windows(noisy, "loudest")[:, :25] - loud[:, :25]).max() < 1e-5
    assert np.abs(normalise_windows(noisy, "mean")[:, :25] - mean[:, :25]).min() > 2.0
    # In place, as the pipeline uses it; an unknown name is a one-line error.
    out = w.copy()
    assert normalise_windows(out, "loudest", out=out) is out
    np.testing.assert_array_equal(out, loud)
    with pytest.raises(ConfigError, match="window_norm 'max'"):
        normalise_windows(w, "max")
