"""Face detection: BlazeFace short-range through our own engines, with our anchors, decoding and NMS.

BlazeFace short-range (MediaPipe, Apache-2.0) takes a 128x128 RGB image in [-1, 1]. Its 896
anchors come from a 16x16 grid (stride 8, 2 anchors per cell) and an 8x8 grid (stride 16: three
layers of 2 anchors, merged into 6 per cell), all of unit size. For each anchor it gives 16 numbers
(box centre x, y, width, height, then six key points x, y, all in input pixels relative to the
anchor) and one score logit. A frame is letterboxed into the square (aspect kept, padding split on
both sides); boxes and key points are mapped back to frame pixels. Overlapping boxes are merged by
weighted non-maximum suppression: each cluster's boxes are averaged with their scores as weights,
which steadies boxes from frame to frame more than keeping only the best one.

Key points, in the model's order: the subject's right eye, left eye, nose tip, mouth centre,
right ear tragion, left ear tragion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from devices.video import to_bgr8
from edge.errors import InputError

INPUT_SIZE = 128
#: Score threshold and smallest face (box side, frame pixels), chosen with
#: scripts/face_detector_thresholds.py on 6,200 scenes (README, "Face detector thresholds"): at
#: 0.65 precision 0.983 and recall 0.628 (0.830 for faces of 120 px or more on 640x480), against
#: 0.866 / 0.683 at the old 0.5; 0.7 gives 0.996 / 0.601. The detector finds no face under about
#: 64 px on 640x480 frames, so the smallest size changes nothing there up to 80 px (96 px loses
#: the astronaut's 95-pixel face); 48 px keeps boxes smaller than the model's 48x48 input out.
SCORE_THRESHOLD = 0.65
MIN_FACE_PX = 48.0
_LAYERS = ((8, 2), (16, 6))  # (stride, anchors per cell) once same-stride layers are merged


def anchors(size: int = INPUT_SIZE) -> np.ndarray:
    """(896, 2) anchor centres in [0, 1], in the model's output order (row, column, anchor)."""
    out = []
    for stride, per_cell in _LAYERS:
        n = size // stride
        ys, xs = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


@dataclass
class Face:
    """One detected face in frame pixels: box (x0, y0, x1, y1), score, six key points (6, 2)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray
    id: int = -1
    extra: dict = field(default_factory=dict)

    @property
    def size(self) -> float:
        return float(min(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def eyes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.keypoints[0], self.keypoints[1]


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of box a (4,) against boxes b (n, 4)."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def weighted_nms(
    boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, threshold: float, limit: int
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Clusters of boxes overlapping the best remaining one by more than `threshold` IoU, each
    averaged with score weights; the cluster keeps its best score. At most `limit` clusters."""
    order = np.argsort(-scores)
    boxes, points, scores = boxes[order], points[order], scores[order]
    alive = np.ones(len(scores), dtype=bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        members = alive & (iou(boxes[i], boxes) > threshold)
        members[i] = True
        alive &= ~members
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(0) / w.sum()
        pts = (points[members] * w[:, :, None]).sum(0) / w.sum()
        out.append((box, pts, float(scores[i])))
        if len(out) == limit:
            break
    return out


class Letterbox:
    """Fits a frame into the detector's square with its aspect kept; maps results back."""

    def __init__(self, height: int, width: int, size: int = INPUT_SIZE) -> None:
        self.scale = size / max(height, width)
        self.inner = (max(1, round(width * self.scale)), max(1, round(height * self.scale)))
        self.pad = ((size - self.inner[0]) // 2, (size - self.inner[1]) // 2)
        self.size = size
        self.canvas = np.zeros((size, size, 3), np.float32)

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        import cv2

        # Shrink first, then swap channels: the colour conversion then touches 1/25 of the pixels.
        small = cv2.cvtColor(
            cv2.resize(bgr, self.inner, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB
        )
        x, y = self.pad
        view = self.canvas[y : y + self.inner[1], x : x + self.inner[0]]
        np.multiply(small, 2.0 / 255.0, out=view, casting="unsafe")
        view -= 1.0
        return self.canvas

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Normalised square coordinates (..., 2) -> frame pixels."""
        return (xy * self.size - np.asarray(self.pad, np.float32)) / self.scale


class BlazeFace:
    """Faces in a BGR or grey uint8 frame, through an engine over the BlazeFace model."""

    def __init__(
        self,
        engine,
        score_threshold: float = SCORE_THRESHOLD,
        iou_threshold: float = 0.3,
        max_faces: int = 10,
    ) -> None:
        self.engine = engine
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_faces = max_faces
        self.anchors = anchors()
        self._logit = float(np.log(score_threshold / (1 - score_threshold)))
        self._letterbox: Letterbox | None = None
        self._letterbox_for = (0, 0)

    def detect(self, frame: np.ndarray) -> list[Face]:
        frame = as_bgr(frame)
        h, w = frame.shape[:2]
        if self._letterbox is None or self._letterbox_for != (h, w):
            self._letterbox, self._letterbox_for = Letterbox(h, w), (h, w)
        box = self._letterbox
        out = self.engine.run(box(frame)[None])
        raw = out["regressors"][0]
        logits = out["classificators"][0, :, 0]
        keep = np.flatnonzero(logits > self._logit)
        if keep.size == 0:
            return []
        raw, a = raw[keep] / INPUT_SIZE, self.anchors[keep]
        centre = raw[:, 0:2] + a
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([box.to_frame(centre - half), box.to_frame(centre + half)], axis=1)
        points = box.to_frame(raw[:, 4:16].reshape(-1, 6, 2) + a[:, None, :])
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100, 100)))
        merged = weighted_nms(boxes, points, scores, self.iou_threshold, self.max_faces)
        return [Face(b.astype(np.float32), s, p.astype(np.float32)) for b, p, s in merged]


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Any image a user may hand over -> (h, w, 3) uint8 BGR; grey, BGRA and 16-bit accepted."""
    frame = np.asarray(frame)
    if frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
        raise InputError(
            f"an image must be (h, w), (h, w, 3) or (h, w, 4); got shape {frame.shape}"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise InputError(f"an image must have pixels; got shape {frame.shape}")
    if not (frame.dtype in (np.uint8, np.uint16) or np.issubdtype(frame.dtype, np.floating)):
        raise InputError(f"images must be uint8, uint16 or float in [0, 1]; got {frame.dtype}")
    if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    return to_bgr8(frame)
