"""Calibration and held-out data: real front-end features, checked before any quantiser sees them.

Sources: an array file (.npy, or .npz with one array) of model inputs, checked against the
front end's declared shape and value range; or the data `distill` takes, turned into model inputs
by the very front end the device runs: a folder of audio (log-mel windows, `edge.frontends.speech`),
face crops (a face .npz, image folders or a video, mapped by `edge.frontends.face.crop.to_input`),
or a DREAMER-structured .mat (EEG windows, `edge.frontends.eeg.window_inputs`). The examples are
split into a calibration set and a held-out set for drift verification.
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
                        f"{path}: an .npz of model inputs holds exactly one array, it holds "
                        f"{z.files} (a face .npz needs an 'images' array and a face checkpoint)"
                    )
                return z[z.files[0]]
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"{path} is not a readable .npy/.npz array ({exc})") from exc


def declared_range(front_end: dict[str, Any]) -> tuple[float, float] | None:
    """The values a front end promises its model: an image front end's `value_range`, [-1, 1]
    for EEG windows scaled by their largest |value|; None where it declares none (log-mel)."""
    kind = front_end.get("kind")
    if kind == "image":
        lo, hi = front_end.get("value_range", (0.0, 1.0))
        return float(lo), float(hi)
    if kind == "eeg" and front_end.get("scaling", "maxabs") == "maxabs":
        return -1.0, 1.0
    return None


def check_range(x: np.ndarray, front_end: dict[str, Any], source: str) -> None:
    """Refuse model inputs outside what the device's front end can produce: calibrating int8 on
    them sets input scales for values the model never sees."""
    span = declared_range(front_end)
    if span is None or not len(x):
        return
    lo, hi = span
    slack = 1e-3 * (hi - lo)
    got_lo, got_hi = float(np.min(x)), float(np.max(x))
    if got_lo < lo - slack or got_hi > hi + slack:
        what = (
            "value_range" if front_end.get("kind") == "image" else "range (max-abs scaled windows)"
        )
        raise CalibrationError(
            f"{source}: calibration values span [{got_lo:.4g}, {got_hi:.4g}], outside the "
            f"{front_end.get('kind')} front end's declared {what} [{lo:g}, {hi:g}]; give inputs "
            "as the device makes them, or the raw data (a face .npz/folder, a DREAMER .mat) for "
            "export to pass through the front end"
        )


def face_inputs(path: Path, front_end: dict[str, Any], input_shape: tuple[int, ...]) -> np.ndarray:
    """Model inputs from face crops (the .npz, image folders or videos `distill face` takes),
    mapped by the device's own `to_input`."""
    from distill.face_data import load_faces
    from edge.frontends.face.crop import to_input
    from edge.runtime.specs import parse_front_end

    spec = parse_front_end(front_end)
    try:
        faces = load_faces(path)
    except Exception as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    crops = faces.images
    if crops.shape[1:3] != (spec.height, spec.width):
        import cv2

        crops = np.stack(
            [cv2.resize(c, (spec.width, spec.height), interpolation=cv2.INTER_AREA) for c in crops]
        )
    if spec.n_channels == 3 and crops.ndim == 3:
        crops = np.repeat(crops[..., None], 3, axis=-1)
    return to_input(crops, spec)


def eeg_inputs(path: Path, front_end: dict[str, Any], mains_hz: int | None = 50) -> np.ndarray:
    """Model inputs from a DREAMER-structured .mat (what `distill eeg` takes): each trial through
    the front end's stored filters and the mains notch, z-scored on its baseline, then cut into
    non-overlapping windows centred and max-abs scaled as the device does (`window_inputs`)."""
    from distill.dreamer import load_dreamer
    from edge.frontends.eeg import match_channels, window_inputs
    from edge.runtime.specs import parse_front_end

    spec = parse_front_end(front_end)
    try:
        trials = load_dreamer(path, filters=tuple(spec.filters), mains_hz=mains_hz)
    except Exception as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    try:
        index = match_channels(trials[0].channels, spec.channels)
    except Exception as exc:
        raise CalibrationError(f"{path}: {exc}") from None
    n = spec.window_samples
    out = []
    for t in trials:
        x = t.eeg[:, index]
        per = len(x) // n
        out.append(x[: per * n].reshape(per, n, len(index)))
    return window_inputs(np.concatenate(out))[:, None]


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
    kind = front_end.get("kind")
    if not path.exists():
        raise CalibrationError(f"calibration data not found: {path}")
    if kind == "image" and (path.is_dir() or _face_file(path)):
        x = face_inputs(path, front_end, input_shape)
    elif kind == "eeg" and path.suffix == ".mat":
        x = eeg_inputs(path, front_end)
    elif path.is_dir():
        if kind != "logmel":
            raise CalibrationError(
                f"{path}: a folder is calibration data for a log-mel (audio) or image (faces) "
                f"front end; this checkpoint's is {kind!r}"
            )
        x = logmel_windows(path, front_end, input_shape)
    else:
        x = load_array(path)
    label = "/".join(path.resolve().parts[-2:])
    x = check_examples(x, input_shape, str(path))
    check_range(x, front_end, str(path))
    return split(x, label, heldout_fraction)


def _face_file(path: Path) -> bool:
    """A face .npz (an `images` array) or a video/image, as `distill face --faces` takes."""
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return "images" in z.files
        except (OSError, ValueError):
            return False
    return path.suffix.lower() not in (".npy", ".npz")
