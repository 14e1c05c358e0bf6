"""`affect-edge run face IMAGE|VIDEO|CAMERA`: expression probabilities per face, frame by frame.

Images, video files and cameras are read through OpenCV (`devices.video`) into the face
pipeline: BlazeFace finds the faces (every `--detect-every` frames; a tracker follows them in
between, with stable ids), each face is cropped with its eyes level and scored by the expression
student. Events go to stdout as JSON lines (`--json`), to a JSON-lines file (`-o`), or into a
table; `--annotate` draws boxes and each face's top expression into a picture or a video.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from edge import modalities, stream
from edge.cli import render
from edge.cli.args import (
    add_event_outputs,
    event_sinks,
    options_from,
    plot_file,
    positive_int,
    stopped,
    writable_file,
)
from edge.modalities.face import FACE, FaceOptions
from edge.runtime.registry import DEFAULTS
from edge.stream import EventList

ANNOTATE_IMAGE = (".png", ".jpg", ".jpeg")
ANNOTATE_VIDEO = (".mp4", ".avi")
DESCRIPTION = """expression probabilities per face from an image, a video or a camera

Each face found gets an id (stable while it stays in view), a box in pixels and the probability
of each of seven expressions (angry, disgust, fear, happy, sad, surprise, neutral), with quality
figures: detector score, face size, whether the box was tracked rather than detected, cut by the
frame's edge, too dark or blurry. Images: any format OpenCV reads (grey, colour, alpha, 8 or 16
bit). Cameras: camera:0 (or /dev/video0)."""


def add_parser(sub) -> None:
    s = sub.add_parser(
        "face",
        help="expression probabilities per face from an image, a video or a camera",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("target", help="image file, video file, or camera:N")
    s.add_argument(
        "--bundle", help=f"expression bundle: a name or a path (default: {DEFAULTS['face']})"
    )
    s.add_argument(
        "--detector",
        help=f"face-detector bundle: a name or a path (default: {DEFAULTS['face-detect']})",
    )
    s.add_argument(
        "--engine",
        choices=["onnx", "tflite"],
        help="runtime for the expression model (default: the bundle's measured faster one; tflite for the shipped face-expr)",
    )
    s.add_argument("--precision", choices=["fp32", "int8"], help="model precision (default int8)")
    s.add_argument(
        "--detect-every",
        type=positive_int,
        help="run the detector every N video frames, tracking faces in between (default "
        f"{FaceOptions.default('detect_every')})",
    )
    s.add_argument(
        "--max-frames",
        type=positive_int,
        help="stop after this many frames (cameras run until Ctrl-C)",
    )
    s.add_argument(
        "--smoothing",
        type=float,
        help="per-face smoothing weight on the newest frame, (0, 1] (default "
        f"{FaceOptions.default('smoothing')}; 1 = none)",
    )
    add_event_outputs(s)
    s.add_argument(
        "--annotate",
        type=writable_file(ANNOTATE_IMAGE + ANNOTATE_VIDEO, ".png"),
        help="draw boxes and top expressions into this picture (.png/.jpg) or video (.mp4/.avi)",
    )
    s.add_argument(
        "--plot",
        type=plot_file,
        help="draw the expression probabilities over time (the face seen longest) into this "
        "picture, as run speech --plot does",
    )


def target_uri(target: str) -> str:
    """The face source URI for a command-line target (a path, camera:N or /dev/videoN)."""
    return target if FACE.fits(target) else f"file:{target}"


def draw(image: np.ndarray, events: list) -> np.ndarray:
    """A copy of the frame with each face's box, id and top expression drawn in."""
    import cv2

    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 600)
    for e in events:
        x0, y0, x1, y1 = (round(v) for v in e.subject["box"])
        label, p = max(e.values.items(), key=lambda kv: kv[1])
        colour = (0, 200, 255) if e.quality.get("tracked") else (0, 220, 0)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, max(1, int(2 * scale)))
        text = f"#{e.subject['id']} {label} {p:.2f}"
        cv2.putText(
            out,
            text,
            (x0, max(12, y0 - 6)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            colour,
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
    return out


class _Annotator:
    """Writes the annotated picture or video to a temporary sibling, renamed at the end."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.writer = None
        self.last = None

    def add(self, image: np.ndarray, events: list) -> None:
        import cv2

        picture = draw(image, list(events))
        if self.path.suffix.lower() in ANNOTATE_IMAGE:
            self.last = picture
            return
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(
                *("mp4v" if self.path.suffix.lower() == ".mp4" else "MJPG")
            )
            self.writer = cv2.VideoWriter(
                str(self.tmp), fourcc, self.fps, (picture.shape[1], picture.shape[0])
            )
        self.writer.write(picture)

    def frame(self, frame, events) -> None:
        self.add(frame.data, events)

    def close(self, ok: bool) -> None:
        import cv2

        if self.writer is not None:
            self.writer.release()
        if ok and self.last is not None:
            ok = cv2.imwrite(str(self.tmp), self.last)
        if ok and self.tmp.stat().st_size > 0:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def face_events(
    target: str,
    options: FaceOptions | None = None,
    sinks: tuple = (),
    annotate: Path | None = None,
    max_frames: int | None = None,
) -> tuple[list, dict]:
    """Stream a target through the face pipeline; every event also goes to each sink, and each
    frame with its faces drawn into `annotate` (a picture or a video), kept if Ctrl-C cuts the
    run short."""
    options = options or FaceOptions()
    bundles = FACE.bundles(options)
    seen = EventList()
    annotator = None
    ok = False
    with modalities.opened("face", target_uri(target), options, bundles) as (source, pipeline):
        try:
            if annotate:
                annotator = _Annotator(annotate, source.rate_hz or 25.0)
            result = stream.run(
                source,
                pipeline,
                (seen, *sinks),
                max_frames=max_frames,
                on_frame=None if annotator is None else annotator.frame,
            )
            ok = True
        finally:
            if annotator is not None:
                annotator.close(ok)
        bundle, detector = bundles
        info = {
            "interrupted": result.interrupted,
            "frames": source.frames_read,
            "bad_frames": source.dropped_frames,
            "engine": pipeline.engine.name,
            "model": f"{bundle.manifest.name} v{bundle.manifest.version}",
            "detector": detector.manifest.name,
            **pipeline.stats(),
        }
    return seen.events, info


def run(args: argparse.Namespace) -> int:
    options = options_from(args, FaceOptions)
    with event_sinks(args) as sinks:
        events, info = face_events(args.target, options, sinks, args.annotate, args.max_frames)
    if not args.json:
        show(events, info, args.target)
        if args.output:
            render.line(f"events written to {args.output}")
    if args.annotate:
        render.note(
            f"annotated {'picture' if args.annotate.suffix.lower() in ANNOTATE_IMAGE else 'video'} written to {args.annotate}",
            args.json,
        )
    if not events:
        render.note(f"no face found in {args.target} ({info['frames']} frame(s))", args.json)
    if getattr(args, "plot", None):
        save_plot(events, info, args)
        render.note(f"plot written to {args.plot}", args.json)
    return stopped(info)


def save_plot(events: list, info: dict, args: argparse.Namespace) -> None:
    """The expression probabilities of the face seen in the most frames, over time."""
    from edge.cli.plot import save_timeline

    seen = Counter(e.subject["id"] for e in events)
    face = seen.most_common(1)[0][0] if seen else None
    mine = [e for e in events if e.subject["id"] == face]
    names = tuple(mine[0].values) if mine else ("happy",)
    others = f" ({len(seen) - 1} other face(s) not drawn)" if len(seen) > 1 else ""
    title = f"{Path(args.target).name}: {info['model']}, face #{face}{others}"
    end = max((e.end_s for e in events), default=float(info["frames"]) / 25.0)
    save_timeline(mine, args.plot, title, end, names, "no face found", "probability")


def _notes(q: dict) -> str:
    flags = [name for name in ("tracked", "cut", "dark", "blurry") if q.get(name)]
    return ", ".join(flags)


def show(events: list, info: dict, target: str) -> None:
    title = f"{Path(target).name}: {info['model']} on {info['engine']}, {info['frames']} frame(s)"
    if not events:
        return
    if len(events) <= 30:
        rows = []
        for e in events:
            ranked = sorted(e.values.items(), key=lambda kv: -kv[1])
            rows.append(
                [
                    f"{e.start_s:.2f} s",
                    e.subject["id"],
                    " ".join(f"{v:.0f}" for v in e.subject["box"]),
                    f"{ranked[0][0]} {ranked[0][1]:.2f}",
                    f"{ranked[1][0]} {ranked[1][1]:.2f}",
                    f"{e.quality['face_px']:.0f}",
                    _notes(e.quality),
                ]
            )
        render.table(
            title, ["time", "face", "box x0 y0 x1 y1", "top", "second", "size px", "note"], rows
        )
    else:
        by_face = defaultdict(list)
        for e in events:
            by_face[e.subject["id"]].append(e)
        rows = []
        for fid, es in sorted(by_face.items()):
            tops = Counter(max(e.values, key=e.values.get) for e in es)
            mean = {k: np.mean([e.values[k] for e in es]) for k in es[0].values}
            best = max(mean, key=mean.get)
            rows.append(
                [
                    fid,
                    f"{es[0].start_s:.2f}-{es[-1].end_s:.2f} s",
                    len(es),
                    f"{tops.most_common(1)[0][0]} ({tops.most_common(1)[0][1]} frames)",
                    f"{best} {mean[best]:.2f}",
                ]
            )
        render.table(title, ["face", "seen", "frames", "most often top", "highest mean"], rows)
    model_ms = [e.latency_ms["model"] for e in events]
    detect_ms = [e.latency_ms["detect"] for e in events if not e.quality.get("tracked")]
    if events:
        render.line(
            f"latency: detector median {np.median(detect_ms) if detect_ms else 0:.2f} ms, "
            f"expression model median {np.median(model_ms):.2f} ms per frame"
        )
    if info.get("bad_frames"):
        render.line(f"note: {info['bad_frames']} frame(s) could not be decoded and were skipped")
