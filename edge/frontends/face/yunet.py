"""YuNet (OpenCV model zoo, MIT) through `cv2.FaceDetectorYN`: the second detector, for comparison.

Its five landmarks (right eye, left eye, nose tip, right and left mouth corners) are placed in
BlazeFace's six-point layout: eyes and nose as they are, the mouth centre as the corners' mean,
the ears (which YuNet does not give) as NaN.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import ConfigError
from edge.frontends.face.detect import Face, as_bgr


class YuNet:
    def __init__(
        self, model: str | Path, score_threshold: float = 0.6, nms_threshold: float = 0.3
    ) -> None:
        import cv2

        if not Path(model).is_file():
            raise ConfigError(f"YuNet model not found: {model}")
        self._cv = cv2.FaceDetectorYN.create(
            str(model), "", (320, 320), score_threshold, nms_threshold
        )
        self._size = (320, 320)

    def detect(self, frame: np.ndarray) -> list[Face]:
        frame = as_bgr(frame)
        size = (frame.shape[1], frame.shape[0])
        if size != self._size:
            self._cv.setInputSize(size)
            self._size = size
        _, rows = self._cv.detect(frame)
        faces = []
        for r in rows if rows is not None else ():
            x, y, w, h = r[:4]
            marks = r[4:14].reshape(5, 2)
            points = np.full((6, 2), np.nan, np.float32)
            points[:3] = marks[:3]
            points[3] = marks[3:5].mean(0)
            faces.append(Face(np.array([x, y, x + w, y + h], np.float32), float(r[14]), points))
        return faces
