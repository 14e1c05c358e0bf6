"""Calibration and held-out data: real front-end features, checked before any quantiser sees them.

Sources: an array file (.npy, or .npz with one array), or a folder of WAV files turned into
log-mel windows by the very front end the device runs (`edge.dsp`). The examples are split
into a calibration set and a held-out set for drift verification.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from quant.errors import CalibrationError

MIN_CALIBRATION = 32
MIN_HELDOUT = 16


@dataclass(frozen=True)
class CalibrationData:
    """Float32 examples (n, *input_shape) split into calibration and held-out parts."""

    calibration: np.ndarray
    heldout: np.ndarray
    source: str

    def batches(self, batch: int = 1) -> Iterator[np.ndarray]:
        for i in range(0, len(self.calibration), batch):
            yield self.calibration[i : i + batch]


def check_examples(x: np.ndarray, input_shape: tuple[int, ...], source: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise CalibrationError(f"{source}: calibration data has dtype {x.dtype}; expected numbers")
    if tuple(x.shape[1:]) != tuple(input_shape):
        hint = ""
        if tuple(x.shape) == tuple(input_shape):
            hint = " (a single example? stack examples along a first axis)"
        raise CalibrationError(
            f"{source}: calibration examples have shape {tuple(x.shape[1:])} (array {tuple(x.shape)}); "
            f"the model takes {tuple(input_shape)} per example{hint}"
        )
    bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
    if bad.size:
        raise CalibrationError(f"{source}: example(s) {bad[:5].tolist()} hold NaN or Inf")
    return np.ascontiguousarray(x, dtype=np.float32)


def split(
    x: np.ndarray, source: str, heldout_fraction: float = 0.25, seed: int = 0
) -> CalibrationData:
    need = MIN_CALIBRATION + MIN_HELDOUT
    if len(x) < need:
        raise CalibrationError(
            f"{source}: {len(x)} examples; at least {need} are needed ({MIN_CALIBRATION} to calibrate int8 "
            f"ranges and {MIN_HELDOUT} held out to measure drift). More gives better ranges: a few hundred is typical."
        )
    order = np.random.default_rng(seed).permutation(len(x))
    n_held = max(MIN_HELDOUT, round(len(x) * heldout_fraction))
    n_held = min(n_held, len(x) - MIN_CALIBRATION)
    return CalibrationData(x[order[n_held:]], x[order[:n_held]], source)


def load_array(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".npz":
            with np.load(path) as z:
                if len(z.files) != 1:
                    raise CalibrationError(
                        f"{path}: an .npz must hold exactly one array, it holds {z.files}"
                    )
                return z[z.files[0]]
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"{path} is not a readable .npy/.npz array ({exc})") from exc


def logmel_windows(
    folder: Path,
    front_end: dict[str, Any],
    input_shape: tuple[int, ...],
    hop_frames: int | None = None,
) -> np.ndarray:
    """Log-mel windows of (1, frames, n_mels) from every WAV in a folder, via `edge.dsp`."""
    from devices.audio import read_wav
    from edge.dsp import LogMelConfig, log_mel, resample
    from edge.dsp.logmel import subtract_window_mean

    config = LogMelConfig.from_front_end(front_end)
    if len(input_shape) != 3 or input_shape[0] != 1 or input_shape[2] != config.n_mels:
        raise CalibrationError(
            f"the model takes {input_shape}; WAV calibration makes (1, frames, {config.n_mels}) log-mel windows"
        )
    frames = input_shape[1]
    hop = hop_frames or max(
        1, frames // 4
    )  # overlapping windows: more, varied examples for the ranges
    files = sorted(p for p in folder.rglob("*.wav"))
    if not files:
        raise CalibrationError(f"{folder} holds no .wav files")
    windows = []
    for path in files:
        audio = read_wav(path)
        signal = resample(audio.mono().astype(np.float64), audio.rate_hz, config.sample_rate)
        feats = log_mel(signal, config)
        for start in range(0, len(feats) - frames + 1, hop):
            windows.append(feats[start : start + frames][None])
    if not windows:
        raise CalibrationError(
            f"{folder}: no file is long enough for one window of {frames} frames"
        )
    x = np.stack(windows)
    if front_end.get("window_norm") == "mean":  # as the pipeline feeds the model
        x = subtract_window_mean(x)
    return x


def load_calibration(
    source: str | Path,
    input_shape: tuple[int, ...],
    front_end: dict[str, Any],
    heldout_fraction: float = 0.25,
) -> CalibrationData:
    """Examples from an array file or a WAV folder, checked and split."""
    path = Path(source)
    if path.is_dir():
        if front_end.get("kind") != "logmel":
            raise CalibrationError(
                f"{path}: a folder of audio needs a log-mel front end, not {front_end.get('kind')}"
            )
        x = logmel_windows(path, front_end, input_shape)
    elif path.is_file():
        x = load_array(path)
    else:
        raise CalibrationError(f"calibration data not found: {path}")
    return split(check_examples(x, input_shape, str(path)), str(path), heldout_fraction)
