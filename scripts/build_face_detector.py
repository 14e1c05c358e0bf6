"""Rebuild the face-detector bundle (edge/models/face-detect) from the mediapipe 0.10.14 wheel.

The BlazeFace short-range model (Apache-2.0) is taken out of the wheel without installing
mediapipe: `pip download mediapipe==0.10.14 --no-deps`, then the one .tflite file is read from the
zip. Its parameters and multiply-accumulates are counted from the model's own operators, and the
bundle is written with the front end the detector needs (128x128 RGB in [-1, 1], letterboxed).
Usage: python scripts/build_face_detector.py [--wheel PATH] [-o edge/models/face-detect]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy")
import numpy as np  # noqa: E402

MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
WHEEL = "mediapipe==0.10.14"


def fetch_model(wheel: Path | None) -> bytes:
    if wheel is None:
        tmp = Path(tempfile.mkdtemp(prefix="mediapipe-"))
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", WHEEL, "-d", str(tmp)],
            check=True,
        )
        wheel = next(tmp.glob("mediapipe-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        return z.read(MEMBER)


def count_ops(model: bytes) -> tuple[int, int]:
    """(parameters, multiply-accumulates per call) counted over the conv and dense operators."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model)
    it.allocate_tensors()
    shapes = {t["index"]: tuple(t["shape"]) for t in it.get_tensor_details()}
    params = macs = 0
    for op in it._get_ops_details():
        name, ins, outs = op["op_name"], list(op["inputs"]), list(op["outputs"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weight = shapes[ins[1]]
        params += int(np.prod(weight)) + (
            int(np.prod(shapes[ins[2]])) if len(ins) > 2 and ins[2] >= 0 else 0
        )
        out = shapes[outs[0]]
        if name == "CONV_2D":  # weight (out, kh, kw, in)
            macs += int(np.prod(out)) * int(np.prod(weight[1:]))
        elif name == "DEPTHWISE_CONV_2D":  # weight (1, kh, kw, channels)
            macs += int(np.prod(out)) * int(weight[1] * weight[2])
        else:
            macs += int(np.prod(weight))
    return int(params), int(macs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--wheel", type=Path, help="a downloaded mediapipe 0.10.14 wheel (else pip downloads it)"
    )
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "edge" / "models" / "face-detect")
    args = parser.parse_args()

    from edge.runtime.bundle import write_bundle

    model = fetch_model(args.wheel)
    params, macs = count_ops(model)

    def tensor(name, shape):
        return {
            "name": name,
            "shape": shape,
            "dtype": "float32",
            "quantization": None,
        }

    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    manifest = {
        "schema_version": 1,
        "name": "face-detect",
        "version": "1",
        "description": "BlazeFace short-range face detector (MediaPipe), decoded by edge/frontends/face/detect.py",
        "modality": "face",
        "task": {"kind": "detection", "outputs": ["regressors", "classificators"]},
        "front_end": {
            "kind": "image",
            "height": 128,
            "width": 128,
            "color": "rgb",
            "layout": "nhwc",
            "value_range": [-1.0, 1.0],
            "crop_margin": 0.0,
        },
        "models": [
            {
                "file": "face_detection_short_range.tflite",
                "format": "tflite",
                "precision": "fp32",
                "inputs": [tensor("input", [1, 128, 128, 3])],
                "outputs": [
                    tensor("regressors", [1, 896, 16]),
                    tensor("classificators", [1, 896, 1]),
                ],
            }
        ],
        "params": params,
        "macs": macs,
        "provenance": {
            "teacher": "none: the published BlazeFace short-range model, used as is",
            "data": f"taken unchanged from the {WHEEL} wheel on PyPI ({MEMBER})",
            "date": datetime.date.today().isoformat(),
            "source_revision": revision or "unknown",
            "licence": "Apache-2.0 (MediaPipe, Google); commercial use allowed with the licence notice",
            "notes": "Bazarevsky et al. 2019, BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs",
        },
        "tolerance": {"fp32": 1e-5},
    }
    bundle = write_bundle(
        args.out, manifest, {"face_detection_short_range.tflite": model}, overwrite=True
    )
    print(
        f"wrote {bundle.path}: {len(model):,} bytes, {params:,} parameters, {macs / 1e6:.1f} M MACs per frame"
    )


if __name__ == "__main__":
    main()
