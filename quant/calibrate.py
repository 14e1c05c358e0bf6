"""Calibration and held-out data: real front-end features, checked before any quantiser sees them.

Sources: an array file (.npy, or .npz with one array), or a folder of audio files turned into
log-mel windows by the very front end the device runs (`edge.frontends.speech`). The examples are split
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
    """Float32 examples (n, *input_shape) split into calibration and held-out parts; `source`
    names the data without a machine's absolute path."""

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
    """Model inputs from every audio file in a folder, made by the device's own front end
    (`edge.frontends.speech`: each file at its own rate, windows normalised as on the device)."""
    from distill.audio import list_audio
    from distill.features import file_features
    from edge.frontends.speech import windows
    from edge.runtime.specs import LogMelSpec, parse_front_end

    spec = parse_front_end(front_end)
    if not isinstance(spec, LogMelSpec) or tuple(input_shape) != spec.input_shape():
        raise CalibrationError(
            f"the model takes {input_shape}; audio calibration makes {spec.input_shape()} windows "
            f"with this {spec.kind} front end"
        )
    # Overlapping windows: more, varied examples for the ranges.
    hop = hop_frames or max(1, spec.window_frames // 4)
    try:
        files = list_audio(folder)
    except Exception as exc:
        raise CalibrationError(str(exc)) from exc
    batches = [windows(file_features(path, spec), spec, hop) for path in files]
    x = np.concatenate(batches) if batches else np.zeros((0, *spec.input_shape()), np.float32)
    if not len(x):
        raise CalibrationError(
            f"{folder}: no file is long enough for one window of {spec.window_frames} frames"
        )
    return x


def load_calibration(
    source: str | Path,
    input_shape: tuple[int, ...],
    front_end: dict[str, Any],
    heldout_fraction: float = 0.25,
) -> CalibrationData:
    """Examples from an array file or an audio folder, checked and split.

    The data's `source` as recorded in manifests is its last two path parts (for example
    "emodb-train/wav"): where it sits on a build machine says nothing and is not recorded.
    """
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
    label = "/".join(path.resolve().parts[-2:])
    return split(check_examples(x, input_shape, str(path)), label, heldout_fraction)
