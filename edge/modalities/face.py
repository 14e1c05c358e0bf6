"""Faces: expression probabilities per face from a camera (``camera:N``, ``/dev/videoN``), a video
or an image file (``file:PATH``), through `FacePipeline` (a detector bundle and an expression
bundle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.frontends.face import DETECT_EVERY
from edge.modalities import Modality, file_path, register
from edge.modalities.options import StreamOptions, number, path_field, text
from edge.runtime.registry import DEFAULTS


@dataclass(frozen=True)
class FaceOptions(StreamOptions):
    #: The face-detector bundle (None: the default).
    detector: str | None = path_field(kind="bundle")
    #: Run the detector every N video frames, tracking faces in between.
    detect_every: int = DETECT_EVERY
    #: Per-face smoothing weight on the newest frame, (0, 1] (1: none).
    smoothing: float = 0.6
    #: An image file shown as a still video for this long (0: one frame).
    still_s: float = 0.0
    #: The still video's frame rate.
    still_fps: float = 5.0

    def check(self) -> None:
        super().check()
        text("detector", self.detector)
        number("detect_every", self.detect_every, 1, 1000)
        number("smoothing", self.smoothing, 0, 1, lo_open=True)
        number("still_s", self.still_s, 0, 86_400, " seconds")
        number("still_fps", self.still_fps, 0.01, 1000, " frames per second")


def load_bundles(modality: Modality, options: FaceOptions) -> tuple[Any, Any]:
    from edge.runtime import load_bundle
    from edge.runtime.registry import find_bundle

    expression = load_bundle(find_bundle(options.bundle or modality.default_bundle))
    detector = load_bundle(find_bundle(options.detector or DEFAULTS["face-detect"]))
    return expression, detector


def camera(uri: str):
    """``camera:N`` or ``/dev/videoN`` as a `VideoSource`."""
    from devices.video import VideoSource

    if uri.startswith("/dev/video"):
        return VideoSource(uri)
    index = uri.split(":", 1)[1]
    try:
        number = int(index)
    except ValueError:
        raise ConfigError(
            f"camera must be camera:N (N = 0, 1, ...) or /dev/videoN, got {uri!r}"
        ) from None
    if number < 0:
        raise ConfigError(
            f"camera numbers start at 0, got {uri!r}: try camera:0 (ls /dev/video* lists the "
            "cameras here)"
        )
    return VideoSource(number)


def open_source(uri: str, options: FaceOptions, bundles: Any):
    from devices.video import IMAGE_SUFFIXES, ImageSource, VideoSource

    path = file_path(uri)
    if path is None:
        return camera(uri)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not options.still_s:
            return ImageSource(path)  # one frame, spanning a second
        frames = max(1, round(options.still_s * options.still_fps))
        return ImageSource([path] * frames, rate_hz=options.still_fps)
    return VideoSource(path)


def is_single_image(source: Any) -> bool:
    from devices.video import ImageSource

    return isinstance(source, ImageSource) and len(source.paths) == 1


def build_pipeline(bundles, source, options: FaceOptions, mode: str = "sync", on_event=None):
    from edge.pipelines.face import FacePipeline

    expression, detector = bundles
    # One picture: nothing to smooth over (its one frame is detected, as every first frame is).
    single = is_single_image(source)
    return FacePipeline(
        expression,
        detector,
        engine=options.engine,
        precision=options.precision,
        detect_every=options.detect_every,  # a first frame is always detected
        smoothing=1.0 if single else options.smoothing,
        mode=mode,
        on_event=on_event,
    )


def sample(folder: Path, speed: float) -> tuple[str, FaceOptions] | None:
    """The demo's input: the bundled photograph as a still video as long as the others' inputs
    (None without OpenCV)."""
    import importlib.util

    from edge.samples import DEMO_SECONDS, sample_face

    if importlib.util.find_spec("cv2") is None:
        return None
    options = FaceOptions(still_s=DEMO_SECONDS, still_fps=5.0, speed=speed)
    return f"file:{sample_face()}", options


FACE = register(
    Modality(
        name="face",
        options=FaceOptions,
        schemes=("camera:", "/dev/video"),
        default_bundle=DEFAULTS["face"],
        open_source=open_source,
        build_pipeline=build_pipeline,
        load_bundles=load_bundles,
        rank=20,
        sample=sample,
    )
)
