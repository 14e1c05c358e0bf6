"""Face-crop datasets for distillation: build, split by source, label with teachers, augment.

A `FaceSet` is grey uint8 crops (n, size, size) with, per crop, the group it came from (a person,
a source image or a video: splits never cut a group), an optional human label and the origin.
Crops come from the shared `.npz` arrays (already cropped), from image folders or from videos
(detected, eye-levelled and cropped by the device's own face front end, so training sees the crops
the device will make; near-duplicate video frames are dropped). Teacher log-probabilities are
cached per teacher under a key made of the crops' bytes, so a second run costs nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from distill.teachers.face import EXPRESSIONS
from edge.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
#: LFW-expression label names mapped onto EXPRESSIONS (contempt has no place there).
_LABEL_NAMES = {
    **{e: e for e in EXPRESSIONS},
    "anger": "angry",
    "happiness": "happy",
    "sadness": "sad",
}


@dataclass
class FaceSet:
    images: np.ndarray  # (n, s, s) uint8
    groups: np.ndarray  # (n,) str: crops of one group are never split apart
    labels: np.ndarray  # (n,) int8 index into EXPRESSIONS, -1 where unknown
    origin: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask: np.ndarray) -> FaceSet:
        return FaceSet(self.images[mask], self.groups[mask], self.labels[mask], self.origin)

    def key(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).hexdigest()[:16]


def _label_index(names: Iterable) -> np.ndarray:
    return np.array(
        [EXPRESSIONS.index(_LABEL_NAMES[n]) if n in _LABEL_NAMES else -1 for n in names],
        dtype=np.int8,
    )


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present in `labels` (rows with label -1 ignored)."""
    known = labels >= 0
    recalls = [np.mean(predicted[known & (labels == c)] == c) for c in np.unique(labels[known])]
    return float(np.mean(recalls)) if recalls else float("nan")


def load_npz(path: str | Path) -> FaceSet:
    """The shared arrays: `fer2013.npz` (groups: one per image) or `lfw-expressions.npz` (groups:
    the person, from the file name, so one person's photos stay on one side of a split)."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
        images = z["images"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"{path} is not a face array file with an 'images' array ({exc})"
        ) from exc
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ConfigError(
            f"{path}: 'images' must be uint8 (n, h, w), got {images.dtype} {images.shape}"
        )
    if "source_file" in z:  # LFW people: Firstname_Lastname_0001.jpg
        groups = np.array([s.rsplit("_", 1)[0] for s in z["source_file"].astype(str)])
        labels = _label_index(z["labels"].astype(str))
    elif "source_path" in z:  # FER2013: one face per source image
        groups = z["source_path"].astype(str)
        labels = z["labels"].astype(np.int8)
    else:
        groups = np.array([f"{path.stem}:{i}" for i in range(len(images))])
        labels = np.full(len(images), -1, np.int8)
    return FaceSet(images, groups, labels, path.stem)


def split_groups(
    faces: FaceSet, fractions: dict[str, float], seed: int = 0
) -> dict[str, np.ndarray]:
    """Boolean masks, one per named part, assigning whole groups at random in the given shares."""
    names = np.unique(faces.groups)
    order = np.random.default_rng(seed).permutation(len(names))
    edges = np.cumsum([0.0, *fractions.values()]) / sum(fractions.values()) * len(names)
    parts = {}
    for (part, _), lo, hi in zip(fractions.items(), edges[:-1], edges[1:], strict=True):
        chosen = names[order[round(lo) : round(hi)]]
        parts[part] = np.isin(faces.groups, chosen)
    return parts


def teacher_log_probs(
    faces: FaceSet,
    teacher,
    cache_dir: str | Path | None,
    tag: str,
    progress: Callable[[str, int], Callable[[], None]] | None = None,
    chunk: int = 256,
) -> np.ndarray:
    """(n, 7) log-probabilities of `teacher` on every crop, cached in `cache_dir/<key>-<tag>.npy`;
    where they are not cached, `progress` (description, total) -> tick hears of every `chunk`."""
    cache = Path(cache_dir) / f"{faces.origin}-{faces.key()}-{tag}.npy" if cache_dir else None
    if cache is not None and cache.is_file():
        out = np.load(cache)
        if out.shape == (len(faces), len(EXPRESSIONS)):
            return out
    out = np.empty((len(faces), len(EXPRESSIONS)))
    tick = progress(f"{tag} labels {faces.origin}", -(-len(faces) // chunk)) if progress else None
    for start in range(0, len(faces), chunk):
        out[start : start + chunk] = teacher.log_probs(faces.images[start : start + chunk])
        if tick:
            tick()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npy")
        np.save(tmp, out)
        tmp.replace(cache)
    return out


#: Augmentation strengths: (probability of a geometric jitter, max rotation in degrees, max scale
#: change, max shift as a fraction of the side, probability of a blur, max gain change, max
#: brightness offset in grey levels). "light" is the default: the 18 K student underfitted its
#: teachers (it agreed with them no more on clean training crops than on validation crops), and in
#: 12 epochs "light" without dropout gave 2 points more validation agreement than "full" with it.
AUGMENT = {
    "none": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "light": (0.5, 6.0, 0.05, 0.03, 0.0, 0.15, 15.0),
    "full": (0.7, 12.0, 0.1, 0.06, 0.3, 0.4, 30.0),
}


def check_augment(strength: str) -> None:
    if strength not in AUGMENT and strength != "camera":
        raise ConfigError(
            f"augmentation must be one of {sorted([*AUGMENT, 'camera'])}, got {strength!r}"
        )


def augment(images: np.ndarray, rng: np.random.Generator, strength: str = "light") -> np.ndarray:
    """Flip, crop jitter with small rotations and scale, brightness/contrast, blur (see AUGMENT):
    a uint8 batch in, a uint8 batch of the same shape out (one random draw per crop)."""
    import cv2

    check_augment(strength)
    if strength == "none":
        return images.copy()
    if strength == "camera":
        return camera_augment(images, rng)
    p_geo, angle, scale, shift, p_blur, gain, bias = AUGMENT[strength]
    n, h, w = images.shape
    out = np.empty_like(images)
    for i in range(n):
        img = images[i]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        if rng.random() < p_geo:  # the rest keep the device crop's geometry exactly
            m = cv2.getRotationMatrix2D(
                (w / 2, h / 2), rng.uniform(-angle, angle), rng.uniform(1 - scale, 1 + scale)
            )
            m[:, 2] += rng.uniform(-shift, shift, 2) * (w, h)
            img = cv2.warpAffine(
                np.ascontiguousarray(img), m, (w, h), borderMode=cv2.BORDER_REPLICATE
            )
        if rng.random() < p_blur:
            img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.2))
        g, b = rng.uniform(1 - gain, 1 + gain), rng.uniform(-bias, bias)
        out[i] = np.clip(img.astype(np.float32) * g + b, 0, 255).astype(np.uint8)
    return out


def camera_augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a camera does to a face crop, one random draw per crop (uint8 batch in and out):
    - pose: mirror (p 0.5); rotation up to 15 degrees, scale 0.85-1.15, shift up to 8% of the
      side, and a perspective squeeze of one side up to 8% (a head turned a little) (p 0.8);
    - light: gain 0.6-1.4, offset up to 30 grey levels, gamma 0.6-1.6, and a side light (a linear
      ramp across the face up to +-40 levels, p 0.3);
    - blur: Gaussian, sigma 0.3-1.5 (p 0.25), or a low-resolution camera (down to 16-32 pixels
      and back, p 0.15); sensor noise, sigma 2-8 levels (p 0.2);
    - JPEG at quality 15-70 (p 0.3);
    - partial occlusion: a grey or textured rectangle of 15-40% of the side (a hand, glasses,
      a microphone) anywhere on the crop (p 0.3)."""
    import cv2

    n, h, w = images.shape
    out = np.empty_like(images)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(n):
        img = images[i]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        img = np.ascontiguousarray(img)
        if rng.random() < 0.8:
            m = cv2.getRotationMatrix2D(
                (w / 2, h / 2), rng.uniform(-15, 15), rng.uniform(0.85, 1.15)
            )
            m[:, 2] += rng.uniform(-0.08, 0.08, 2) * (w, h)
            src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            dst = np.c_[src, np.ones(4)] @ m.T
            squeeze = rng.uniform(0, 0.08) * h
            side = [1, 2] if rng.random() < 0.5 else [0, 3]  # right or left edge shrinks
            dst[side[0], 1] += squeeze
            dst[side[1], 1] -= squeeze
            p = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
            img = cv2.warpPerspective(img, p, (w, h), borderMode=cv2.BORDER_REPLICATE)
        x = img.astype(np.float32)
        x = x * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)
        if rng.random() < 0.3:
            angle = rng.uniform(0, 2 * np.pi)
            ramp = (np.cos(angle) * (xx - w / 2) / w + np.sin(angle) * (yy - h / 2) / h) * 2
            x = x + ramp * rng.uniform(-40, 40)
        x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.6, 1.6)
        r = rng.random()
        if r < 0.25:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.3, 1.5))
        elif r < 0.4:
            side = int(rng.integers(16, 33))
            x = cv2.resize(cv2.resize(x, (side, side), interpolation=cv2.INTER_AREA), (w, h))
        if rng.random() < 0.2:
            x = x + rng.normal(0, rng.uniform(2, 8), x.shape)
        img = np.clip(x, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:
            ok, buf = cv2.imencode(
                ".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 71))]
            )
            if ok:
                img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        if rng.random() < 0.3:
            oh, ow = (rng.uniform(0.15, 0.4, 2) * (h, w)).astype(int)
            y0, x0 = int(rng.integers(0, h - oh + 1)), int(rng.integers(0, w - ow + 1))
            if rng.random() < 0.5:
                img[y0 : y0 + oh, x0 : x0 + ow] = int(rng.integers(0, 256))
            else:
                img[y0 : y0 + oh, x0 : x0 + ow] = rng.integers(0, 256, (oh, ow), dtype=np.uint8)
        out[i] = img
    return out


def _expression_of(folder_name: str) -> int:
    name = _LABEL_NAMES.get(folder_name.lower())
    return EXPRESSIONS.index(name) if name else -1


def from_media(
    path: str | Path,
    front=None,
    tick: Callable[[], None] | None = None,
    min_change: float = 6.0,
    max_frames: int = 3000,
) -> FaceSet:
    """Crops of every face in an image folder (recursively) or a video, made by the device's face
    front end. Groups: the image file, or the video. A folder named like an expression (happy/,
    anger/ ...) labels its images. Video crops closer than `min_change` grey levels (mean absolute
    difference) to the face's last kept crop are near-duplicates and dropped."""
    import cv2

    from distill.face import FACE_SPEC
    from edge.frontends.face import FaceFrontEnd
    from edge.runtime.specs import ImageSpec

    path = Path(path)
    if front is None:
        # Training crops: the detector on every frame (no tracked, predicted boxes).
        front = FaceFrontEnd(
            ImageSpec.from_dict({k: v for k, v in FACE_SPEC.items() if k != "kind"}),
            detect_every=1,
        )
    images, groups, labels = [], [], []
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        videos = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        files, videos = [], [path]
    else:
        raise ConfigError(f"{path}: give a folder of images or videos, a video, or a .npz of crops")
    for f in files:
        frame = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        if frame is not None and frame.size:
            front.reset()
            faces, _ = front.faces(frame)
            for crop in front.crops(frame, faces):
                images.append(crop)
                groups.append(str(f.relative_to(path)))
                labels.append(_expression_of(f.parent.name))
        if tick:
            tick()
    for v in videos:
        capture = cv2.VideoCapture(str(v))
        front.reset()
        last: dict[int, np.ndarray] = {}
        for _ in range(max_frames):
            ok, frame = capture.read()
            if not ok:
                break
            faces, _ = front.faces(frame)
            for face, crop in zip(faces, front.crops(frame, faces), strict=True):
                prev = last.get(face.id)
                if prev is not None and np.mean(np.abs(crop.astype(np.int16) - prev)) < min_change:
                    continue
                last[face.id] = crop
                images.append(crop)
                groups.append(str(v.name))
                labels.append(_expression_of(v.parent.name))
        capture.release()
        if tick:
            tick()
    if not images:
        raise ConfigError(f"{path}: no face found in any image or video")
    size = (len(images), *images[0].shape)
    return FaceSet(
        np.stack(images).reshape(size), np.array(groups), np.array(labels, np.int8), path.name
    )


def load_faces(path: str | Path, progress=None) -> FaceSet:
    """A `.npz` of crops, or image folders / videos cropped by the device's front end."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"faces not found: {path}")
    if path.is_file() and path.suffix == ".npz":
        return load_npz(path)
    count = len(list(path.rglob("*"))) if path.is_dir() else 1
    tick = progress(f"crop faces in {path.name}", count) if progress else None
    return from_media(path, tick=tick)
