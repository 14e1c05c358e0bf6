"""Face pipeline: video frames in, one expression event per face out.

Per frame: the face front end (`edge.frontends.face`) detects faces (every `detect_every` frames;
the tracker carries them in between, with stable ids), crops each one (eyes levelled, the
model's margin and size, grey), and the expression student scores each crop. Each face gives an
event with `subject` {id, box} and the seven expression probabilities, smoothed per face id with
weight `smoothing` on the newest (1 = no smoothing, the default for still images).

Quality per face: the detector's score (of the last detection), the face's size in pixels,
`tracked` when the box comes from the tracker rather than a detection on this frame, `cut` when
the box runs past the frame's edge, the crop's brightness (mean grey level, 0-255) and sharpness
(variance of its Laplacian), with `dark` (brightness under 40) and `blurry` (sharpness under
20) flags. Latency per stage: front end (copying the frame in), queue, detect (0 on tracked
frames), crop, model (all faces), total.

A frame without a face gives no event; `stats()` counts such frames. See `edge.pipelines.base`
for stamping, the hand-off to the worker thread and thread safety: in ``mode="async"`` the
caller's thread only copies the frame into a preallocated slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from devices.frame import Frame
from edge.errors import InputError
from edge.events import AffectEvent
from edge.frontends.face import DETECT_EVERY, FaceFrontEnd, as_bgr
from edge.frontends.face.detect import MIN_FACE_PX, SCORE_THRESHOLD
from edge.pipelines.base import Pipeline, Window, class_probabilities, require_bundle
from edge.runtime import Bundle
from edge.runtime.specs import ImageSpec

DARK = 40.0
BLURRY = 20.0


class FacePipeline(Pipeline):
    modality = "face"

    def __init__(
        self,
        bundle: Bundle,
        detector: Bundle | None = None,
        engine: str | None = None,
        precision: str | None = None,
        threads: int = 1,
        detect_every: int = DETECT_EVERY,
        max_faces: int = 10,
        min_face_px: float = MIN_FACE_PX,
        score_threshold: float = SCORE_THRESHOLD,
        smoothing: float = 1.0,
        mode: str = "sync",
        on_event: Callable[[AffectEvent], None] | None = None,
    ) -> None:
        require_bundle(
            bundle,
            "face",
            ImageSpec,
            "a face pipeline needs a face classification bundle with an image front end",
            task="classification",
        )
        m = bundle.manifest
        self.spec = m.front_end
        self.labels = m.task.labels
        self.front = FaceFrontEnd(
            self.spec, detector, detect_every, score_threshold, max_faces, min_face_px, threads
        )
        # A model whose outputs have a value range [0, 1] ends in a softmax (probabilities,
        # renormalised after int8 rounding); one without gives logits.
        self._logits = m.task.value_range is None
        self._face_smoothed: dict[int, np.ndarray] = {}
        self.frames_without_face = 0
        self.faces_seen = 0
        super().__init__(bundle, engine, precision, threads, mode, smoothing, on_event)

    def _new_window(self) -> Window:
        return Window(np.zeros((1, 1, 3), np.uint8))

    def _check_frame(self, frame: Frame) -> None:
        if frame.kind != "video":
            raise InputError(f"a face pipeline takes video frames, not {frame.kind}")

    def _front(self, frame: Frame) -> None:
        image = as_bgr(frame.data)
        window = self._claim()
        if window.inputs.shape != image.shape:
            window.inputs = np.empty_like(image)
        np.copyto(window.inputs, image)
        window.end = self.clock.position
        window.first = window.end - 1
        window.update = True
        self._submit(window)

    def _front_reset(self) -> None:
        self.front.reset()
        self._face_smoothed.clear()
        self.frames_without_face = 0
        self.faces_seen = 0

    def _infer(self, window: Window) -> dict[str, float]:
        raise NotImplementedError("faces are scored per face in _complete")

    def _probabilities(self, crops: np.ndarray) -> np.ndarray:
        x = self.front.inputs(crops)
        out = np.concatenate(
            [next(iter(self.engine.run(x[i : i + 1]).values())) for i in range(len(x))]
        )
        return class_probabilities(out, self._logits)

    def _complete(self, window: Window) -> None:
        t0 = time.perf_counter()
        queue_ms = (t0 - window.t_ready) * 1e3
        image = window.inputs
        faces, detected = self.front.faces(image)
        t1 = time.perf_counter()
        if not faces:
            self.frames_without_face += 1
            return
        crops = self.front.crops(image, faces)
        t2 = time.perf_counter()
        probs = self._probabilities(crops)
        t3 = time.perf_counter()
        self.updates += 1
        self.faces_seen += len(faces)
        h, w = image.shape[:2]
        start = round(self.clock.time_of(window.first), 3)
        end = round(self.clock.end_time_of(window.end), 3)
        live = {f.id for f in faces}
        for gone in set(self._face_smoothed) - live:
            del self._face_smoothed[gone]
        for face, crop, p in zip(faces, crops, probs, strict=True):
            prev = self._face_smoothed.get(face.id)
            p = p if prev is None else self.smoothing * p + (1 - self.smoothing) * prev
            self._face_smoothed[face.id] = p
            x0, y0, x1, y1 = (float(v) for v in face.box)
            brightness, sharpness = _crop_quality(crop)
            quality: dict[str, float | bool] = {
                "detector_score": round(face.score, 4),
                "face_px": round(face.size, 1),
                "tracked": not detected,
                "cut": x0 < 0 or y0 < 0 or x1 > w or y1 > h,
                "brightness": round(brightness, 1),
                "sharpness": round(sharpness, 1),
                "dark": brightness < DARK,
                "blurry": sharpness < BLURRY,
            }
            event = AffectEvent(
                modality=self.modality,
                source=self._source or "",
                model=self.model_name,
                model_version=self.model_version,
                start_s=start,
                end_s=end,
                values={k: round(float(v), 4) for k, v in zip(self.labels, p, strict=True)},
                updated=True,
                quality=quality,
                latency_ms={
                    "front_end": round(window.front_ms, 3),
                    "queue": round(queue_ms, 3),
                    "detect": round((t1 - t0) * 1e3 if detected else 0.0, 3),
                    "crop": round((t2 - t1) * 1e3, 3),
                    "model": round((t3 - t2) * 1e3, 3),
                    "total": round(
                        window.front_ms + (time.perf_counter() - window.t_ready) * 1e3, 3
                    ),
                },
                subject={
                    "id": int(face.id),
                    "box": [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)],
                },
                seq=self.events,
            )
            self.events += 1
            self._deliver(event)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        out.update(
            frames_without_face=self.frames_without_face,
            faces_scored=self.faces_seen,
            detector_latency=self.front.detector.engine.latency.summary(),
        )
        return out


def _crop_quality(crop: np.ndarray) -> tuple[float, float]:
    """Mean grey level and the variance of the 4-neighbour Laplacian (a sharpness figure)."""
    g = crop.astype(np.float32)
    if g.ndim == 3:
        g = g.mean(axis=2)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(g.mean()), float(lap.var())
