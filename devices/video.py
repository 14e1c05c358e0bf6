"""Video sources through OpenCV: still images, video files and cameras, as BGR uint8 frames.

- `ImageSource`: one image file (or several, in order), each one frame. Grey, 16-bit and alpha
  images are converted to 8-bit BGR; a file OpenCV cannot decode is a `SourceError` naming it.
- `VideoSource`: a video file or a camera (an integer index or a /dev/video path). Frames are
  stamped from the container's own timestamps for files (so a broken frame that the decoder skips
  leaves a gap) and from the monotonic clock for cameras. A frame that fails to decode in the
  middle of a file is counted in `dropped_frames` and skipped; `max_bad` failures in a row end
  the stream. A file is read as fast as asked (`edge.stream.Paced` paces any source).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from devices.errors import SourceError
from devices.frame import Frame
from devices.source import Source

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
BGR = ("b", "g", "r")


def _cv2():
    # OpenCV's own WARN lines (a camera it cannot open) would come before our one-line error.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    try:
        import cv2
    except ImportError as exc:
        raise SourceError(
            "images, videos and cameras need OpenCV: pip install 'affect-edge[camera]'"
        ) from exc
    return cv2


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """An image as OpenCV decodes it (grey, BGR, BGRA; 8 or 16 bit, or float) -> BGR uint8."""
    cv2 = _cv2()
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = (np.clip(np.nan_to_num(image.astype(np.float32)), 0, 1) * 255 + 0.5).astype(
            np.uint8
        )
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def check_image_path(path: Path) -> None:
    """A clear `SourceError` for a path that is not a readable file."""
    if path.is_dir():
        raise SourceError(f"{path} is a directory, not an image file")
    if not path.exists():
        raise SourceError(f"image not found: {path}")
    if not path.is_file():
        raise SourceError(f"{path} is not a regular file")


def _read_bytes(path: Path) -> bytes:
    check_image_path(path)
    try:
        return path.read_bytes()
    except PermissionError:
        raise SourceError(
            f"cannot read {path}: no permission (make it readable: chmod u+r)"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


def truncation(data: bytes) -> str | None:
    """Why an encoded JPEG or PNG is cut short, or None: a JPEG must end with its end-of-image
    marker (trailing padding or an appended trailer after it is allowed), a PNG hold its IEND
    chunk. libjpeg would otherwise print a warning on stderr and decode the missing part grey."""
    if data[:2] == b"\xff\xd8":
        tail = data[-4096:].rstrip(b"\x00\r\n ")
        if tail.endswith(b"\xff\xd9"):
            return None
        # A trailer after the image (some cameras append one): the image's end marker stands
        # before it, past the last start-of-scan.
        last_scan = data.rfind(b"\xff\xda")
        if last_scan >= 0 and data.find(b"\xff\xd9", last_scan) >= 0:
            return None
        return "a JPEG cut short (no end-of-image marker)"
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        return "a PNG cut short (no IEND chunk)"
    return None


def read_image(path: str | Path) -> np.ndarray:
    """One image file -> BGR uint8; a clear `SourceError` when it is missing, unreadable, cut
    short or not an image."""
    cv2 = _cv2()
    path = Path(path)
    data = _read_bytes(path)
    cut = truncation(data)
    if cut:
        raise SourceError(
            f"{path} is not an image OpenCV can decode: {cut}; copy or download it again"
        )
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None or image.size == 0:
        raise SourceError(f"{path} is not an image OpenCV can decode (corrupt or unknown format)")
    return to_bgr8(image)


class ImageSource(Source):
    kind = "video"

    def __init__(self, paths: str | Path | list[str | Path], rate_hz: float = 1.0) -> None:
        paths = [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
        super().__init__(str(paths[0]) if len(set(paths)) == 1 else f"{paths[0].parent}/*")
        self.paths = paths
        self._rate = rate_hz
        self._next = 0

    @property
    def rate_hz(self) -> float:
        return self._rate

    @property
    def channels(self) -> tuple[str, ...]:
        return BGR

    def _open(self) -> None:
        for p in self.paths:
            check_image_path(p)

    def _read(self, timeout_s: float | None) -> Frame | None:
        if self._next >= len(self.paths):
            return None
        i = self._next
        self._next += 1
        return Frame(
            read_image(self.paths[i]), i / self._rate, self._rate, BGR, "video", self.id, i
        )

    def _close(self) -> None:
        pass


class VideoSource(Source):
    kind = "video"

    def __init__(self, target: str | int | Path, max_bad: int = 30) -> None:
        self.camera = isinstance(target, int) or str(target).startswith("/dev/video")
        self.live = self.camera
        super().__init__(f"camera:{target}" if self.camera else str(target))
        self.target = target
        self.max_bad = max_bad
        self._cap = None
        self._fps = 0.0
        self._t0 = 0.0
        self._seq = 0
        self.frame_count: int | None = None

    @property
    def rate_hz(self) -> float:
        return self._fps

    @property
    def channels(self) -> tuple[str, ...]:
        return BGR

    def _open(self) -> None:
        cv2 = _cv2()
        if not self.camera:
            path = Path(self.target)
            if not path.is_file():
                raise SourceError(
                    f"video not found: {path}" if not path.exists() else f"{path} is not a file"
                )
        cap = cv2.VideoCapture(self.target if isinstance(self.target, int) else str(self.target))
        if not cap.isOpened():
            raise SourceError(f"{self.id}: OpenCV cannot open it (not a video, or no such camera)")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if fps and 0 < fps < 1000 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not self.camera else None

    def _start(self) -> None:
        self._t0 = time.monotonic()

    def _read(self, timeout_s: float | None) -> Frame | None:
        cv2 = _cv2()
        bad = 0
        while True:
            if self.frame_count is not None and self._seq >= self.frame_count:
                return None
            ok, image = self._cap.read()
            if ok and image is not None and image.size:
                break
            if not self.camera and self.frame_count is None:
                return None
            bad += 1
            self.dropped_frames += 1
            self._seq += 1
            if bad >= self.max_bad:
                return None
        seq = self._seq
        self._seq += 1
        if self.camera:
            start = time.monotonic() - self._t0
        else:
            ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            start = ms / 1e3 if ms > 0 or seq == 0 else seq / self._fps
        return Frame(to_bgr8(image), start, self._fps, BGR, "video", self.id, seq)

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
