"""Choose the face detector's score threshold and minimum face size on data: precision and recall.

Scenes are 640x480 frames, each holding one known face or none:
- faces: GENKI-4K crops (../shared, 64x64, 4,000 people), LFW-expressions crops (../shared, 48x48, a
  random 1,500) and skimage's `lfw_subset` faces (100, 25x25), each scaled to a random size of
  48-320 pixels and placed at a random spot on a background cut from a skimage photograph without
  people; plus skimage's `astronaut()` and `camera()` whole, shifted 0-12 pixels.
- non-faces: skimage's `lfw_subset` non-face crops (100) placed the same way; random cuts (a tenth
  to the whole of the picture) of skimage's photographs without people, and of the astronaut's
  spacesuit (the picture below her chin), scaled to fill the frame.
The detector runs once per scene at a low threshold (0.2); a detection whose box centre lies in the
placed face's box and whose size is at least a quarter of it is the face, any other is a false
positive. For each score threshold and minimum face size (frame pixels): recall over the face scenes,
false positives per scene, precision over all detections kept.

Usage: python scripts/face_detector_thresholds.py [--shared ../shared] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "cv2")
import numpy as np  # noqa: E402

W, H = 640, 480
NO_PEOPLE = (
    "brick", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket",
    "text", "cell", "microaneurysms", "stereo_motorcycle",
)  # fmt: skip
BIG = 120  # faces this size or larger: what BlazeFace short-range is made for on 640x480
THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
MIN_SIZES = (12, 64, 80, 96, 128)


def _bgr(image: np.ndarray) -> np.ndarray:
    import cv2

    image = np.asarray(image[0] if isinstance(image, tuple) else image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.dtype != np.uint8:
        image = np.clip(image * 255, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def backgrounds() -> list[np.ndarray]:
    from skimage import data

    return [_bgr(getattr(data, n)()) for n in NO_PEOPLE]


def spacesuit() -> np.ndarray:
    from skimage import data

    return _bgr(data.astronaut())[230:]  # below the chin: the suit, the flag, the patch


def cut(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random cut of a tenth to the whole of the picture's side, resized to fill the frame."""
    import cv2

    h, w = image.shape[:2]
    f = rng.uniform(0.3, 1.0)
    ch, cw = max(8, int(h * f)), max(8, int(w * f))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return cv2.resize(image[y : y + ch, x : x + cw], (W, H), interpolation=cv2.INTER_AREA)


def place(crop: np.ndarray, bg: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """The grey crop scaled to 48-320 pixels on the background; returns the frame and its box."""
    import cv2

    frame = bg.copy()
    side = int(rng.integers(48, 321))
    face = cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC)
    y, x = int(rng.integers(0, H - side + 1)), int(rng.integers(0, W - side + 1))
    frame[y : y + side, x : x + side] = face[..., None]
    return frame, [x, y, x + side, y + side]


def scenes(shared: Path, rng: np.random.Generator) -> list[tuple[str, np.ndarray, list | None]]:
    from skimage import data

    bgs = backgrounds()
    out = []

    def on_bg(kind: str, crops: np.ndarray, face: bool) -> None:
        for c in crops:
            frame, box = place(c, cut(bgs[rng.integers(len(bgs))], rng), rng)
            out.append((kind, frame, box if face else None))

    lfw_small = (data.lfw_subset() * 255).astype(np.uint8)
    on_bg("skimage lfw_subset face", lfw_small[:100], True)
    on_bg("skimage lfw_subset non-face", lfw_small[100:], False)
    faces = shared / "data" / "faces"
    if (faces / "genki4k.npz").is_file():
        on_bg("genki4k face", np.load(faces / "genki4k.npz")["images"], True)
    if (faces / "lfw-expressions.npz").is_file():
        lfw = np.load(faces / "lfw-expressions.npz")["images"]
        on_bg("lfw-expressions face", lfw[rng.choice(len(lfw), 1500, replace=False)], True)
    astro, cam = _bgr(data.astronaut()), _bgr(data.camera())
    for s in range(0, 13, 2):
        out.append(("astronaut shifted", np.roll(astro, s, axis=1), [180, 70, 290, 190]))
        out.append(("cameraman shifted", np.roll(cam, s, axis=1), [165, 95, 275, 220]))
    suit = spacesuit()
    for bg in bgs:
        for _ in range(20):
            out.append(("photo without people", cut(bg, rng), None))
    for _ in range(100):
        out.append(("spacesuit", cut(suit, rng), None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from edge.frontends.face.detect import BlazeFace
    from edge.runtime import load_bundle
    from edge.runtime.engines import open_engine
    from edge.runtime.registry import find_bundle

    det = BlazeFace(open_engine(load_bundle(find_bundle("face-detect"))), score_threshold=0.2)
    rows = []  # (kind, has_face, [(score, size, is_face)])
    box_side: dict[int, int] = {}
    for kind, frame, box in scenes(args.shared, np.random.default_rng(args.seed)):
        found = []
        for f in det.detect(frame):
            hit = False
            if box is not None:
                cx, cy = (f.box[0] + f.box[2]) / 2, (f.box[1] + f.box[3]) / 2
                side = box[2] - box[0]
                hit = box[0] <= cx <= box[2] and box[1] <= cy <= box[3] and f.size >= side / 4
            found.append((float(f.score), float(f.size), bool(hit)))
        rows.append((kind, box is not None, found))
        if box is not None:
            box_side[id(found)] = box[2] - box[0]
    kinds = sorted({k for k, _, _ in rows})
    print("scenes:", {k: sum(r[0] == k for r in rows) for k in kinds})
    table = []
    for s in MIN_SIZES:
        for t in THRESHOLDS:
            tp = fp = n_face = fp_neg = big = big_found = 0
            per_kind = {}
            for kind, has_face, found in rows:
                kept = [h for sc, sz, h in found if sc >= t and sz >= s]
                got = bool(any(kept))
                tp += got
                if has_face and box_side.get(id(found), 0) >= BIG:
                    big += 1
                    big_found += got
                n_face += has_face
                extra = sum(not h for h in kept) + max(0, sum(kept) - 1)
                fp += extra
                fp_neg += extra if not has_face else 0
                d = per_kind.setdefault(kind, [0, 0, 0])
                d[0] += 1
                d[1] += got
                d[2] += extra
            table.append(
                {
                    "threshold": t,
                    "min_face_px": s,
                    "recall": round(tp / n_face, 4),
                    f"recall_faces_{BIG}px_up": round(big_found / max(big, 1), 4),
                    "precision": round(tp / max(tp + fp, 1), 4),
                    "false_positives": fp,
                    "false_positive_scenes_without_face": fp_neg,
                    "per_kind": {
                        k: {"scenes": v[0], "found": v[1], "false": v[2]}
                        for k, v in per_kind.items()
                    },
                }
            )
    print(
        f"{'min px':>6} {'thr':>5} {'recall':>7} {'>=' + str(BIG) + 'px':>7} {'precision':>9} {'FP':>5}"
    )
    for r in table:
        print(
            f"{r['min_face_px']:>6} {r['threshold']:>5.2f} {r['recall']:>7.3f} "
            f"{r[f'recall_faces_{BIG}px_up']:>7.3f} {r['precision']:>9.3f} {r['false_positives']:>5}"
        )
    for r in table:
        if r["min_face_px"] == MIN_SIZES[0] and r["threshold"] in (0.5, 0.6, 0.65, 0.7, 0.8):
            print(
                f"threshold {r['threshold']}: found / false per kind",
                {k: (v["found"], v["false"]) for k, v in r["per_kind"].items()},
            )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
