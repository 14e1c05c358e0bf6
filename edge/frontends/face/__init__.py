"""The face front end: frames in, tracked faces and their model-ready crops out.

`FaceFrontEnd` joins the detector (`detect.BlazeFace` over the face-detect bundle), the tracker
(`track.Tracker`, so detection runs every `detect_every` frames) and the crop (`crop.crop_face`,
eyes levelled, the expression model's margin and size). Training data is cropped by this same
code (`distill/face_data.py`), so the student sees the device's crops.
"""

from __future__ import annotations

import numpy as np

from edge.errors import ConfigError
from edge.frontends.face.crop import crop_face, to_input
from edge.frontends.face.detect import MIN_FACE_PX, SCORE_THRESHOLD, BlazeFace, Face, as_bgr
from edge.frontends.face.track import Tracker
from edge.runtime import Bundle
from edge.runtime.engines import open_engine
from edge.runtime.specs import ImageSpec

DETECTOR = "face-detect"
#: The detector runs on every third frame and the tracker carries faces in between: the one
#: default of the front end, the pipeline and the CLI / daemon options (`edge.modalities.face`).
#: A first frame, and one of another size than the last, is always detected.
DETECT_EVERY = 3


class FaceFrontEnd:
    def __init__(
        self,
        spec: ImageSpec,
        detector: Bundle | None = None,
        detect_every: int = DETECT_EVERY,
        score_threshold: float = SCORE_THRESHOLD,
        max_faces: int = 10,
        min_face_px: float = MIN_FACE_PX,
        threads: int = 1,
    ) -> None:
        if detector is None:
            from edge.runtime import load_bundle
            from edge.runtime.registry import find_bundle

            detector = load_bundle(find_bundle(DETECTOR))
        if detector.manifest.task.kind != "detection":
            raise ConfigError(
                f"{detector.path} is not a face-detector bundle (task {detector.manifest.task.kind})"
            )
        if detect_every < 1:
            raise ConfigError(f"detect_every must be at least 1, got {detect_every}")
        self.spec = spec
        self.detector = BlazeFace(
            open_engine(detector, threads=threads), score_threshold, max_faces=max_faces
        )
        self.detector_bundle = detector
        self.tracker = Tracker()
        self.detect_every = detect_every
        self.min_face_px = min_face_px
        self.frames = 0
        self._shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        self.tracker.reset()
        self.frames = 0
        self._shape = None

    def faces(self, frame_bgr: np.ndarray) -> tuple[list[Face], bool]:
        """The faces in this frame (ids stable across frames) and whether the detector ran: every
        `detect_every` frames, when nothing is tracked, and on a frame whose size differs from the
        last one's (another picture, not the next frame of a video: the tracks mean nothing there)."""
        detect = (
            self.frames % self.detect_every == 0
            or not self.tracker.tracks
            or frame_bgr.shape != self._shape
        )
        self._shape = frame_bgr.shape
        self.frames += 1
        if detect:
            found = [f for f in self.detector.detect(frame_bgr) if f.size >= self.min_face_px]
            return self.tracker.update(found), True
        return self.tracker.predict(), False

    def crops(self, frame_bgr: np.ndarray, faces: list[Face]) -> np.ndarray:
        """uint8 crops (n, h, w) for grey (n, h, w, 3) otherwise."""
        shape = (self.spec.height, self.spec.width) + (() if self.spec.color == "grey" else (3,))
        out = np.empty((len(faces), *shape), np.uint8)
        for i, face in enumerate(faces):
            out[i] = crop_face(frame_bgr, face, self.spec)
        return out

    def inputs(self, crops: np.ndarray) -> np.ndarray:
        return to_input(crops, self.spec)


__all__ = ["Face", "FaceFrontEnd", "as_bgr", "crop_face", "to_input"]
