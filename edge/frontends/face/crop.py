"""Face crops for the expression model: eyes levelled, a margin around the box, resized, grey.

The same code makes the crops for training (distill/faces.py builds datasets with it) and on the
device, so the student sees the same geometry in both. The crop is one affine warp of the frame:
rotate about the box centre by the eye line's angle, scale the box plus `margin` on each side to
the model's size. Pixels outside the frame repeat the edge, so a face cut by the frame's edge
still gives a whole crop (and is flagged by the pipeline's quality figures).
"""

from __future__ import annotations

import math

import numpy as np

from edge.frontends.face.detect import Face
from edge.runtime.specs import ImageSpec


def crop_matrix(face: Face, size: tuple[int, int], margin: float, level: bool = True) -> np.ndarray:
    """The 2x3 affine matrix taking frame pixels to crop pixels."""
    x0, y0, x1, y1 = (float(v) for v in face.box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    angle = 0.0
    if level:
        right, left = face.eyes
        angle = math.atan2(float(left[1] - right[1]), float(left[0] - right[0]))
    h, w = size
    sx, sy = w / side, h / side
    cos, sin = math.cos(angle), math.sin(angle)
    # Rotate by -angle about the centre, scale, then move the centre to the crop's centre.
    return np.array(
        [
            [sx * cos, sx * sin, w / 2 - sx * (cos * cx + sin * cy)],
            [-sy * sin, sy * cos, h / 2 - sy * (-sin * cx + cos * cy)],
        ],
        dtype=np.float64,
    )


def crop_face(frame_bgr: np.ndarray, face: Face, spec: ImageSpec, level: bool = True) -> np.ndarray:
    """The face as a uint8 crop of the spec's size: (h, w) for grey, (h, w, 3) otherwise (in the
    spec's colour order)."""
    import cv2

    size = (spec.height, spec.width)
    m = crop_matrix(face, size, spec.crop_margin, level)
    # Shrinking by more than 2x with bilinear sampling aliases: pre-shrink the region first.
    side = max(float(face.box[2] - face.box[0]), float(face.box[3] - face.box[1]))
    factor = side * (1 + 2 * spec.crop_margin) / max(size)
    src = frame_bgr
    if factor > 2.5:
        x0, y0, x1, y1 = _bounds(face, spec.crop_margin, frame_bgr.shape)
        rw, rh = max(1, round((x1 - x0) * 2 / factor)), max(1, round((y1 - y0) * 2 / factor))
        src = cv2.resize(frame_bgr[y0:y1, x0:x1], (rw, rh), interpolation=cv2.INTER_AREA)
        small_to_frame = np.array([[(x1 - x0) / rw, 0, x0], [0, (y1 - y0) / rh, y0], [0, 0, 1]])
        m = m @ small_to_frame
    crop = cv2.warpAffine(
        src, m, (spec.width, spec.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if spec.color == "grey":
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB) if spec.color == "rgb" else crop


def _bounds(face: Face, margin: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Integer frame region holding the rotated crop (its circumscribed square), clipped."""
    x0, y0, x1, y1 = (float(v) for v in face.box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * (1 + 2 * margin) * 0.75
    h, w = shape[:2]
    return (
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(w, math.ceil(cx + half)),
        min(h, math.ceil(cy + half)),
    )


def to_input(crops: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """uint8 crops (n, h, w[, c]) -> float32 model input in the spec's layout and value range."""
    x = crops.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    lo, hi = spec.value_range
    x = x * ((hi - lo) / 255.0) + lo
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if spec.layout == "nchw" else x)
