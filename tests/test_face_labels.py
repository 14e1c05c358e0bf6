"""`affect-edge distill face-labels`: the shipped face-expr's recipe from the command line, on a
small shared folder the test makes (FER2013- and LFW-shaped arrays whose expressions are drawn
shapes), through a real subprocess; and its one-line refusals before any work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from distill.face_data import load_npz, split_groups
from distill.face_recipe import recipe_defaults

NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def drawn(label: int, rng: np.random.Generator) -> np.ndarray:
    """A 48x48 grey crop whose expression is where a bright bar sits, in noise."""
    img = rng.normal(110, 25, (48, 48))
    row = 4 + 6 * label
    img[row : row + 4, 8:40] += 100
    return np.clip(img, 0, 255).astype(np.uint8)


def make_shared(root: Path, n_fer: int = 280, n_people: int = 40) -> Path:
    rng = np.random.default_rng(0)
    faces = root / "data" / "faces"
    faces.mkdir(parents=True)
    labels = np.arange(n_fer) % 7
    split = np.array(["train", "train", "train", "val", "test"] * (n_fer // 5))
    np.savez(
        faces / "fer2013.npz",
        images=np.stack([drawn(k, rng) for k in labels]),
        labels=labels.astype(np.int8),
        source_path=np.array([f"fer/{i}.png" for i in range(n_fer)]),
        split=split,
    )
    people = [f"Person_{p:02d}_{i:04d}.jpg" for p in range(n_people) for i in range(1, 5)]
    lfw_labels = np.arange(len(people)) % 7
    names = np.array(
        ["anger" if k == 0 else "happiness" if k == 3 else NAMES[k] for k in lfw_labels]
    )
    np.savez(
        faces / "lfw-expressions.npz",
        images=np.stack([drawn(k, rng) for k in lfw_labels]),
        labels=names,
        source_file=np.array(people),
    )
    return root


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli.main", "distill", "face-labels", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def test_the_recipes_defaults_are_the_shipped_bundles() -> None:
    """FaceTrainConfig's defaults (the command line's and the build script's) are exactly the
    recipe the shipped face-expr's manifest says trained it."""
    from edge.runtime import load_bundle
    from edge.runtime.registry import default_bundle

    shipped = load_bundle(default_bundle("face")).manifest.measured["student"]["config"]
    defaults = json.loads(json.dumps(recipe_defaults()))  # tuples as the manifest's lists
    assert defaults == shipped


def test_face_labels_trains_on_train_parts_and_chooses_on_validation(tmp_path: Path) -> None:
    shared = make_shared(tmp_path / "shared")
    out = cli(
        "--shared",
        str(shared),
        "--cache",
        str(tmp_path / "cache"),
        "--epochs",
        "4",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "-o",
        str(tmp_path / "face.pt"),
        "--json",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    # Trained on FER2013's train split and LFW's train people only, never on val or test crops.
    lfw = load_npz(shared / "data" / "faces" / "lfw-expressions.npz")
    lfw_train = split_groups(lfw, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)["train"]
    assert report["train_crops"] == {
        "fer2013 train split": 168,
        "lfw-expressions train people": int(lfw_train.sum()),
    }
    # The recipe's defaults: distillation from the real fer teacher, its labels cached.
    assert report["recipe"] == "class-weighted CE on human labels + KD from the teachers"
    assert report["teachers"] == {"fer": report["teachers"]["fer"]} and report["kd_weight"] == 0.3
    assert report["config"]["architecture"] == "face_expr_plain" and report["config"]["epochs"] == 4
    assert len(list((tmp_path / "cache").glob("*-fer.npy"))) == 2  # FER2013 and LFW
    assert 0 <= report["best_epoch"] < 4
    # The drawn expressions are learnable: validation far above chance (1/7).
    assert report["val_after_adjust"]["fer2013_val_accuracy"] > 0.5, report["val_after_adjust"]
    from distill.checkpoint import Checkpoint

    ckpt = Checkpoint.load(tmp_path / "face.pt")
    assert ckpt.architecture == "face_expr_plain" and ckpt.name == "face-student"
    assert "research use only" in ckpt.provenance["licence"]
    assert "never trained on nor chosen on" in ckpt.provenance["data"]
    assert "fer" in ckpt.provenance["teacher"] and "distillation" in ckpt.provenance["teacher"]
    assert not (tmp_path / "build").exists()  # --cache, not the default build/faces/cache


@pytest.mark.parametrize(
    "args, message",
    [
        (["--shared", "{tmp}/nowhere"], "is missing: give --shared, the folder holding data/"),
        (["--kd-weight", "1.5"], "must be from 0 to 1"),
        (["--teacher", "fer,clip"], "--teacher clip: the face teachers are fer, facex"),
        (["--teacher", "", "--kd-weight", "0.3"], "--kd-weight above 0 needs a --teacher"),
        (["--architecture", "no_such_net", "--kd-weight", "0"], "unknown student architecture"),
        (["--arch-config", "{no json"], "argument --arch-config: is not JSON"),
        (["--arch-config", "[1]"], "argument --arch-config: must be a JSON object"),
        (["--batch-size", "100000", "--kd-weight", "0"], "batch size 100000 is more than the"),
        (["--cache", "{tmp}/shared/data/faces/fer2013.npz/c"], "--cache {tmp}/shared/data/faces"),
    ],
)
def test_face_labels_refuses_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    shared = make_shared(tmp_path / "shared", n_fer=35, n_people=4)
    full = ["--shared", str(shared), "-o", str(tmp_path / "f.pt"), "--epochs", "1"]
    out = cli(*full, *(a.replace("{tmp}", str(tmp_path)) for a in args), cwd=tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr[-2000:])
    message = message.replace("{tmp}", str(tmp_path))
    assert message in out.stderr and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert message in out.stderr.strip().splitlines()[-1]  # one line (after argparse's usage)
    assert not (tmp_path / "f.pt").exists()
