"""The face front end on real frames: BlazeFace through our engines against YuNet, the tracker,
the eye-levelled crop, and images users really hand over (grey, RGBA, 16-bit, tiny, dark)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")

from edge.errors import InputError  # noqa: E402
from edge.frontends.face import FaceFrontEnd  # noqa: E402
from edge.frontends.face.crop import crop_face, crop_matrix  # noqa: E402
from edge.frontends.face.detect import BlazeFace, Face, anchors, iou, weighted_nms  # noqa: E402
from edge.frontends.face.track import Tracker  # noqa: E402
from edge.runtime import load_bundle  # noqa: E402
from edge.runtime.engines import open_engine  # noqa: E402
from edge.runtime.registry import find_bundle  # noqa: E402
from edge.runtime.specs import ImageSpec  # noqa: E402

pytestmark = pytest.mark.device

YUNET = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "face_detection_yunet_2023mar.onnx"
)
SPEC = ImageSpec(
    height=48, width=48, color="grey", layout="nchw", value_range=(-1.0, 1.0), crop_margin=0.1
)


@pytest.fixture(scope="module")
def detector() -> BlazeFace:
    return BlazeFace(open_engine(load_bundle(find_bundle("face-detect"))))


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


def scenes(astronaut: np.ndarray) -> dict[str, np.ndarray]:
    """640x480 frames made from the astronaut photograph: placed, scaled, flipped, rotated, two
    faces, dimmed."""
    face = astronaut[20:300, 120:340]  # head and shoulders
    out = {}
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[100:380, 300:520] = face
    out["placed"] = canvas
    out["flipped"] = canvas[:, ::-1].copy()
    # BlazeFace short-range needs faces of about a fifth of the frame's height or more (its
    # 128x128 input leaves a 100-pixel face of a 640x480 frame 20 pixels wide).
    small = cv2.resize(face, (180, 229), interpolation=cv2.INTER_AREA)
    two = np.full((480, 640, 3), 60, np.uint8)
    two[20:249, 40:220] = small
    two[200:480, 350:570] = face
    out["two faces"] = two
    m = cv2.getRotationMatrix2D((410, 240), 12, 1.0)
    out["rotated 12 degrees"] = cv2.warpAffine(
        canvas, m, (640, 480), borderMode=cv2.BORDER_REPLICATE
    )
    out["dim"] = (canvas.astype(np.float32) * 0.35).astype(np.uint8)
    return out


def test_anchors_follow_the_published_layout():
    a = anchors()
    assert a.shape == (896, 2)
    # 16x16 cells of stride 8 with 2 anchors each, then 8x8 cells of stride 16 with 6 each.
    np.testing.assert_allclose(a[0], a[1])
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[512:518], np.repeat(a[512:513], 6, axis=0))
    np.testing.assert_allclose(a[-1], [7.5 / 8, 7.5 / 8])


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    points[1] += 1
    scores = np.array([0.9, 0.6, 0.7], np.float32)
    out = weighted_nms(boxes, points, scores, 0.3, 10)
    assert len(out) == 2
    merged, pts, score = out[0]
    assert score == pytest.approx(0.9)
    np.testing.assert_allclose(merged, [0.4, 0, 10.4, 10], atol=1e-5)  # 0.9:0.6 weights
    np.testing.assert_allclose(pts[0], [0.4, 0.4], atol=1e-5)
    assert iou(out[1][0], out[0][0][None])[0] == 0


def test_blazeface_finds_the_astronaut_where_yunet_does(detector, astronaut):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.8
    right, left = f.eyes
    assert right[0] < left[0]  # the subject's right eye is on the image's left
    assert abs(right[1] - left[1]) < 15
    if not YUNET.is_file():
        pytest.skip(f"YuNet comparison needs {YUNET} (../shared absent)")
    from edge.frontends.face.yunet import YuNet

    theirs = YuNet(YUNET).detect(astronaut)
    assert len(theirs) == 1
    assert iou(f.box, theirs[0].box[None])[0] > 0.6


@pytest.mark.skipif(not YUNET.is_file(), reason="YuNet model lives in ../shared/models")
def test_blazeface_boxes_agree_with_yunet_on_varied_frames(detector, astronaut):
    from edge.frontends.face.yunet import YuNet

    yunet = YuNet(YUNET)
    for name, frame in scenes(astronaut).items():
        ours, theirs = detector.detect(frame), yunet.detect(frame)
        assert len(ours) == len(theirs) >= 1, (name, len(ours), len(theirs))
        for t in theirs:
            best = iou(t.box, np.stack([o.box for o in ours])).max()
            assert best > 0.5, (name, best)
            # The eyes agree within 15% of the face's size.
            o = ours[int(iou(t.box, np.stack([o.box for o in ours])).argmax())]
            assert np.abs(o.keypoints[:2] - t.keypoints[:2]).max() < 0.15 * t.size, name


def test_no_face_in_a_photograph_without_people(detector):
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for image in (
        skimage_data.coffee(),
        skimage_data.rocket(),
        noise,
        np.zeros((480, 640, 3), np.uint8),
    ):
        assert detector.detect(np.ascontiguousarray(image[..., ::-1])) == []


def test_images_of_any_kind_users_hand_over(detector, astronaut):
    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    rgba = cv2.cvtColor(astronaut, cv2.COLOR_BGR2BGRA)
    deep = astronaut.astype(np.uint16) * 257
    for image in (grey, grey[..., None], rgba, deep, astronaut.astype(np.float32) / 255):
        assert len(detector.detect(image)) == 1
    assert detector.detect(np.zeros((1, 1, 3), np.uint8)) == []
    with pytest.raises(InputError, match="shape"):
        detector.detect(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match="int32"):
        detector.detect(np.zeros((4, 4), np.int32))
    with pytest.raises(InputError, match="pixels"):
        detector.detect(np.zeros((0, 4, 3), np.uint8))


def test_tracker_keeps_ids_and_follows_motion():
    def face(x: float) -> Face:
        return Face(np.array([x, 10, x + 40, 50], np.float32), 0.9, np.zeros((6, 2), np.float32))

    t = Tracker(max_missed=1)
    first = t.update([face(0), face(200)])
    assert [f.id for f in first] == [0, 1]
    moved = t.update([face(205), face(4)])  # order swapped, both moved
    assert sorted((f.id, float(f.box[0])) for f in moved) == [(0, 4.0), (1, 205.0)]
    predicted = t.predict()  # no detection: carried on by the velocity
    assert {f.id: float(f.box[0]) for f in predicted}[1] > 205.0
    assert [f.id for f in t.update([face(400)])] == [2]  # a new face; the others missed once
    assert [f.id for f in t.update([face(402)])] == [2]  # missed twice: dropped
    assert {tr.id for tr in t.tracks} == {2}


def test_crop_levels_the_eyes_and_keeps_the_margin(detector, astronaut):
    rotated = cv2.warpAffine(
        astronaut,
        cv2.getRotationMatrix2D((225, 128), -15, 1.0),
        (512, 512),
        borderMode=cv2.BORDER_REPLICATE,
    )
    face = detector.detect(rotated)[0]
    right, left = face.eyes
    assert abs(left[1] - right[1]) > 10  # tilted in the frame
    m = crop_matrix(face, (48, 48), 0.1)
    eyes = np.c_[np.stack([right, left]), np.ones(2)] @ m.T
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.5  # level in the crop
    assert 8 < eyes[0, 0] < 24 and 24 < eyes[1, 0] < 40
    crop = crop_face(rotated, face, SPEC)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    # The levelled crop of the tilted face looks like the crop of the upright one (the boxes
    # differ by a few pixels).
    upright = crop_face(astronaut, detector.detect(astronaut)[0], SPEC)
    assert np.corrcoef(crop.ravel().astype(float), upright.ravel().astype(float))[0, 1] > 0.7


def test_a_face_cut_by_the_frame_edge_still_gives_a_whole_crop(detector, astronaut):
    cut = astronaut[:, 200:]  # the left part of the face is outside
    faces = detector.detect(cut)
    if faces:
        crop = crop_face(cut, faces[0], SPEC)
        assert crop.shape == (48, 48)
        assert faces[0].box[0] < 5


def test_front_end_detects_every_nth_frame_and_tracks_between(astronaut):
    front = FaceFrontEnd(SPEC, detect_every=3)
    ran = []
    for _ in range(7):
        faces, detected = front.faces(astronaut)
        ran.append(detected)
        assert [f.id for f in faces] == [0]
    assert ran == [True, False, False, True, False, False, True]
    crops = front.crops(astronaut, faces)
    x = front.inputs(crops)
    assert x.shape == (1, 1, 48, 48) and x.min() >= -1 and x.max() <= 1
