"""The offline commands as an ML engineer meets them, through the real `affect-edge` in a subprocess:
outputs that are never written over a user's files, and hostile inputs that get one line, exit 2.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.offline_cases import BIN, CASES, UNWRITABLE, make_inputs, run_case, sys_is_unwritable


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    return make_inputs(tmp_path_factory.mktemp("offline-inputs"))


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The error line; the whole of stderr must be that line (argparse's usage lines aside)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ": error: " in ln]
    assert len(errors) == 1, proc.stderr
    if not errors[0].startswith("affect-edge distill") and not errors[0].startswith(
        "affect-edge eval"
    ):
        assert lines == errors, proc.stderr  # not an argparse error: nothing but the one line
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_hostile_input_gets_one_line_and_exit_2(case, inputs: Path) -> None:
    if str(UNWRITABLE) in " ".join(case.argv) and not sys_is_unwritable():
        pytest.skip(f"{UNWRITABLE.parent} is writable here")
    proc = run_case(case, inputs)
    assert proc.returncode == case.code, proc.stderr
    assert case.says in one_error_line(proc)
    assert proc.stdout == ""


def cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A trained 375-parameter student, its calibration array and a bundle exported from it."""
    torch = pytest.importorskip("torch", reason="export needs torch")
    pytest.importorskip("onnxruntime")
    torch.set_num_threads(1)
    from distill.synthetic import regression_student
    from quant.build import ExportOptions, build_bundle

    tmp = tmp_path_factory.mktemp("tiny")
    ckpt, x = regression_student(channels=4, n_train=200, steps=20)
    ckpt.name = "tiny"
    ckpt.save(tmp / "tiny.pt")
    np.save(tmp / "cal.npy", x[:64])
    build_bundle(tmp / "tiny.pt", tmp / "cal.npy", tmp / "bundle", ExportOptions(formats=("onnx",)))
    return tmp


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_export_force_never_removes_a_users_folder_or_file(tiny: Path, tmp_path: Path) -> None:
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.txt").write_text("two years of work\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("notes\n")
    # A bundle folder the user has put a file into is not ours alone any more.
    mixed = tmp_path / "mixed"
    (mixed).mkdir()
    for p in (tiny / "bundle").iterdir():
        (mixed / p.name).write_bytes(p.read_bytes())
    (mixed / "README.txt").write_text("mine\n")
    before = tree(tmp_path)
    for target, why in (
        (user, "the folder holds no manifest.json"),
        (notes, "it is a file that is not a bundle"),
        (mixed, "the folder also holds README.txt"),
    ):
        proc = cli("export", str(tiny / "tiny.pt"), "--calibration", str(tiny / "cal.npy"),
                   "-o", str(target), "--formats", "onnx", "--force")  # fmt: skip
        assert proc.returncode == 2
        line = one_error_line(proc)
        assert "refusing to replace it even with --force" in line and why in line
    assert tree(tmp_path) == before


def test_export_replaces_its_own_bundle_only_with_force_and_only_once_verified(
    tiny: Path, tmp_path: Path
) -> None:
    from edge.runtime import load_bundle

    out = tmp_path / "bundle"
    for p in (tiny / "bundle").iterdir():
        out.mkdir(exist_ok=True)
        (out / p.name).write_bytes(p.read_bytes())
    base = ["export", str(tiny / "tiny.pt"), "--formats", "onnx", "-o", str(out)]
    proc = cli(*base, "--calibration", str(tiny / "cal.npy"))
    assert proc.returncode == 2 and "already exists; pass --force" in one_error_line(proc)
    # A new export that fails (NaN in the calibration data) leaves the old bundle as it was.
    bad = np.load(tiny / "cal.npy")
    bad[3, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    before = tree(out)
    proc = cli(*base, "--calibration", str(tmp_path / "nan.npy"), "--force")
    assert proc.returncode == 2 and "hold NaN" in one_error_line(proc)
    assert tree(out) == before
    proc = cli(*base, "--calibration", str(tiny / "cal.npy"), "--force", "--name", "tiny-2")
    assert proc.returncode == 0, proc.stderr
    assert load_bundle(out).manifest.name == "tiny-2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "nan.npy"]  # nothing left


def test_distill_refuses_an_existing_checkpoint_without_force(tiny: Path, tmp_path: Path) -> None:
    ckpt = tmp_path / "student.pt"
    ckpt.write_bytes((tiny / "tiny.pt").read_bytes())
    argv = ["distill", "eeg", "--dreamer", str(tmp_path / "none.mat"), "-o", str(ckpt)]
    proc = cli(*argv)
    assert proc.returncode == 2 and "already exists; pass --force" in one_error_line(proc)
    # With --force a real checkpoint is accepted as a target: the run goes on to read its data.
    proc = cli(*argv, "--force")
    assert proc.returncode == 2 and "DREAMER file not found" in one_error_line(proc)
    assert ckpt.read_bytes() == (tiny / "tiny.pt").read_bytes()


def test_export_c_into_an_existing_folder_needs_force_and_an_earlier_export(
    tmp_path: Path,
) -> None:
    out = tmp_path / "c"
    assert cli("export-c", "speech-adv", "-o", str(out), "--json").returncode == 0
    first = json.loads((out / "export.json").read_text())
    proc = cli("export-c", "speech-adv", "-o", str(out))
    assert proc.returncode == 2 and "not empty; pass --force" in one_error_line(proc)
    (out / "main.c").write_text("int main(void) { return 0; }\n")  # the user's own file
    proc = cli("export-c", "eeg-valence", "-o", str(out), "--force")
    assert proc.returncode == 2 and "also holds main.c" in one_error_line(proc)
    (out / "main.c").unlink()
    proc = cli("export-c", "eeg-valence", "-o", str(out), "--force", "--json")
    assert proc.returncode in (0, 3), proc.stderr
    second = json.loads((out / "export.json").read_text())
    assert (first["bundle"], second["bundle"]) == ("speech-adv", "eeg-valence")
    assert not (out / "ae_logmel.c").exists()  # the old export's files went with it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def onnx_teacher(path: Path, gain: float) -> Path:
    """A raw-wave ONNX teacher: sigmoid(gain * [mean x^2, mean |x|, max x]) as A/D/V."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Mul", ["wave", "wave"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["power"], axes=[1], keepdims=1),
        helper.make_node("Abs", ["wave"], ["abs"]),
        helper.make_node("ReduceMean", ["abs"], ["level"], axes=[1], keepdims=1),
        helper.make_node("ReduceMax", ["wave"], ["peak"], axes=[1], keepdims=1),
        helper.make_node("Concat", ["power", "level", "peak"], ["stats"], axis=1),
        helper.make_node("Mul", ["stats", "gain"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], ["adv"]),
    ]
    graph = helper.make_graph(
        nodes,
        "teacher",
        [helper.make_tensor_value_info("wave", TensorProto.FLOAT, [1, "n"])],
        [helper.make_tensor_value_info("adv", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("gain", TensorProto.FLOAT, [1], [gain])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Six 2.5 s recordings by three speakers (one folder each)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(3)
    t = np.arange(40000) / 16000
    for s in range(3):
        (root / "audio" / f"spk{s}").mkdir(parents=True)
        for k in range(2):
            f0 = 120 + 40 * s + 15 * k
            x = (0.05 + 0.1 * k) * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / "audio" / f"spk{s}" / f"u{k}.wav", x.astype(np.float32), 16000)
    (root / "audio" / "README.md").write_text("# test corpus\n- Licence: CC0 (made by the test)\n")
    onnx_teacher(root / "loud.onnx", 8.0)
    onnx_teacher(root / "soft.onnx", 2.0)
    return root


def cached_labels(cache: Path) -> dict[str, list[float]]:
    rows = [
        json.loads(ln)
        for p in cache.glob("labels.rank*.jsonl")
        for ln in p.read_text().splitlines()
    ]
    return {r["key"]: r["adv"] for r in rows}


def test_teacher_label_cache_is_keyed_by_what_made_it(corpus: Path, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    cache = tmp_path / "labels"
    run = ["distill", "speech", "--audio", str(corpus / "audio"), "--cache", str(cache),
           "--variants", "0", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4",
           "--arch-config", '{"widths": [4, 4, 4, 4, 4], "head": 4}', "--json"]  # fmt: skip
    loud = f"onnx:{corpus / 'loud.onnx'}"
    proc = cli(*run, "--teacher", loud, "-o", str(tmp_path / "a.pt"))
    assert proc.returncode == 0, proc.stderr
    first = cached_labels(cache)
    assert len(first) == 6 * 1  # six files, one 2 s segment each, no augmented variants
    provenance = torch.load(tmp_path / "a.pt", weights_only=True)["provenance"]
    assert provenance["data"].startswith(f"{corpus.name}/audio: 6 audio files, content sha256 ")
    assert str(tmp_path.parent) not in json.dumps(provenance)  # no absolute path of this machine
    assert provenance["licence"] == (
        "teacher: as the ONNX model's licence says; data: audio: CC0 (made by the test)"
    )
    # Another teacher with the same cache: refused, never trained on the old labels.
    soft = f"onnx:{corpus / 'soft.onnx'}"
    proc = cli(*run, "--teacher", soft, "-o", str(tmp_path / "b.pt"))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "does not match this run" in line and "teacher_files_sha256" in line
    assert not (tmp_path / "b.pt").exists()
    # Other segments: refused too.
    proc = cli(*run, "--teacher", loud, "--segment-s", "1", "-o", str(tmp_path / "b.pt"))
    assert proc.returncode == 2 and "segment_s" in one_error_line(proc)
    # --relabel labels again with the new teacher.
    proc = cli(*run, "--teacher", soft, "--relabel", "-o", str(tmp_path / "b.pt"))
    assert proc.returncode == 0, proc.stderr
    second = cached_labels(cache)
    assert set(second) == set(first)
    assert all(max(second[k]) < max(first[k]) for k in first)  # gain 2 gives lower scores than 8
    stored = json.loads((cache / "fingerprint.json").read_text())
    assert stored["teacher"] == "ONNX teacher soft.onnx" and stored["data_files"] == 6


@pytest.fixture(scope="module")
def face(tmp_path_factory) -> Path:
    """A small face student trained a few steps on crops of the sample photograph, its crops as a
    face .npz, and the same crops as model inputs in the wrong (0-255) and the right range."""
    torch = pytest.importorskip("torch")
    import cv2

    from distill.checkpoint import Checkpoint
    from distill.face import FACE_SPEC
    from distill.face_data import EXPRESSIONS
    from distill.students import create

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("face")
    sample = Path(__file__).parents[1] / "edge" / "data" / "samples" / "face_astronaut.jpg"
    img = cv2.imread(str(sample), cv2.IMREAD_GRAYSCALE)
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(160):
        s = int(rng.integers(60, min(img.shape)))
        y, x = rng.integers(0, img.shape[0] - s), rng.integers(0, img.shape[1] - s)
        crops.append(cv2.resize(img[y : y + s, x : x + s], (48, 48), interpolation=cv2.INTER_AREA))
    crops = np.stack(crops)
    np.savez(tmp / "crops.npz", images=crops)
    np.save(tmp / "crops_0_255.npy", crops[:, None].astype(np.float32))
    x = torch.from_numpy(crops[:, None].astype(np.float32) * (2 / 255) - 1)
    brightness = crops.mean(axis=(1, 2))
    y = torch.from_numpy(np.digitize(brightness, np.quantile(brightness, np.arange(1, 7) / 7)))
    config = {"widths": [8, 8, 8, 8, 8, 8]}
    torch.manual_seed(0)
    model = create("face_expr", **config)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(60):
        idx = torch.randint(0, len(x), (64,))
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    task = {"kind": "classification", "outputs": list(EXPRESSIONS), "labels": list(EXPRESSIONS)}
    provenance = {"teacher": "brightness bins (a test)", "data": "crops of the sample photo",
                  "date": "", "source_revision": "", "licence": "Apache-2.0"}  # fmt: skip
    Checkpoint("face_expr", config, model.eval().state_dict(), (1, 48, 48), task,
               dict(FACE_SPEC), provenance, name="face-tiny", modality="face").save(tmp / "face.pt")  # fmt: skip
    return tmp


def test_export_refuses_calibration_outside_the_front_ends_range_and_takes_face_crops(
    face: Path, tmp_path: Path
) -> None:
    base = ["export", str(face / "face.pt"), "--formats", "onnx", "-o", str(tmp_path / "b")]
    proc = cli(*base, "--calibration", str(face / "crops_0_255.npy"))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "calibration values span [0, 255]" in line and "value_range [-1, 1]" in line
    assert not (tmp_path / "b").exists()
    # The face .npz `distill face` takes goes through the device's own mapping to [-1, 1].
    proc = cli(*base, "--calibration", str(face / "crops.npz"), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["calibration"]["source"].endswith("crops.npz")
    assert report["verification"]["model_int8.onnx"]["top1_agreement"] >= 0.9


def test_models_verify_rechecks_int8_on_inputs_the_device_makes(
    face: Path, tmp_path: Path, monkeypatch
) -> None:
    """A bundle whose int8 model was calibrated on 0-255 crops passes its own reference check
    (the references share the mistake) but not the check on the device front end's inputs."""
    import quant.build
    from quant.build import ExportOptions, build_bundle
    from quant.calibrate import check_examples, split

    wrong = np.load(face / "crops_0_255.npy")
    monkeypatch.setattr(  # what export did before it checked the range
        quant.build,
        "load_calibration",
        lambda source, shape, front_end, fraction: split(
            check_examples(wrong, shape, "wrong"), "wrong", fraction
        ),
    )
    build_bundle(face / "face.pt", face / "crops_0_255.npy", tmp_path / "wrong",
                 ExportOptions(formats=("onnx",)))  # fmt: skip
    monkeypatch.undo()
    build_bundle(face / "face.pt", face / "crops.npz", tmp_path / "right",
                 ExportOptions(formats=("onnx",)))  # fmt: skip
    proc = cli("models", "verify", str(tmp_path / "right"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    right = json.loads(proc.stdout)["int8_on_device_inputs"]
    proc = cli("models", "verify", str(tmp_path / "wrong"), "--json")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert all(m["status"] == "ok" for m in report["models"])  # its own references pass
    wrong_row = report["int8_on_device_inputs"]["models"][0]
    assert not wrong_row["ok"] and wrong_row["top1_agreement"] < 0.9
    assert right["models"][0]["top1_agreement"] >= 0.9


@pytest.mark.slow
def test_an_interrupted_distillation_resumes_where_it_stopped(corpus: Path, tmp_path: Path) -> None:
    """SIGINT after two epochs leaves last.pt; --resume finishes with the very weights of a run
    that was never stopped. Per-epoch lines carry the metric and an ETA; metrics.csv one row each."""
    import signal
    import time

    torch = pytest.importorskip("torch")
    run = ["distill", "speech", "--audio", str(corpus / "audio"), "--teacher",
           f"onnx:{corpus / 'loud.onnx'}", "--variants", "1", "--epochs", "8",
           "--steps-per-epoch", "6", "--batch-size", "8", "--patience", "8",
           "--arch-config", '{"widths": [4, 4, 4, 4, 4], "head": 4}']  # fmt: skip
    whole = cli(*run, "--cache", str(tmp_path / "whole.labels"), "-o", str(tmp_path / "whole.pt"))
    assert whole.returncode == 0, whole.stderr
    lines = [ln for ln in whole.stdout.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 8 and "/8  loss" in lines[0] and "ETA" in lines[0]
    out = tmp_path / "cut.pt"
    proc = subprocess.Popen(
        [str(BIN), *run, "--cache", str(tmp_path / "cut.labels"), "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip
    metrics = tmp_path / "cut.run" / "metrics.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:  # header + 2 epochs
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "rerun the same command with --resume" in err and not out.exists()
    last = torch.load(tmp_path / "cut.run" / "last.pt", weights_only=False)
    stopped_after = last["epoch"] + 1  # epochs finished and saved
    assert 2 <= stopped_after < 8
    again = cli(*run, "--cache", str(tmp_path / "cut.labels"), "-o", str(out))
    assert again.returncode == 2 and "--resume to continue it" in one_error_line(again)
    resumed = cli(*run, "--cache", str(tmp_path / "cut.labels"), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    first = next(ln for ln in resumed.stdout.splitlines() if ln.startswith("epoch"))
    assert first.startswith(f"epoch {stopped_after + 1:3d}/8")
    assert len(metrics.read_text().splitlines()) == 1 + 8
    a = torch.load(tmp_path / "whole.pt", weights_only=True)["state_dict"]
    b = torch.load(out, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "cut.run" / "config.json").read_text())["source_revision"]
    assert json.loads((tmp_path / "cut.run" / "data.json").read_text())["data_files"] == 6


@pytest.mark.slow
def test_torchrun_with_two_ranks_trains_one_model_and_rank_0_alone_reports(
    corpus: Path, tmp_path: Path
) -> None:
    import shutil
    import sys

    torch = pytest.importorskip("torch")
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    out = tmp_path / "ddp.pt"
    proc = subprocess.run(
        [torchrun, "--nproc_per_node=2", "--master_port=29583", str(BIN), "distill", "speech",
         "--audio", str(corpus / "audio"), "--teacher", f"onnx:{corpus / 'loud.onnx'}",
         "--variants", "1", "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "8",
         "--arch-config", '{"widths": [4, 4, 4, 4, 4], "head": 4}', "-o", str(out), "--json"],
        capture_output=True, text=True, timeout=600,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"student_vs_teacher_ccc"') == 1  # one report, from rank 0
    fit = json.loads(proc.stdout)["fit"]
    assert fit["world_size"] == 2 and fit["ranks_in_sync"] is True
    metrics = (tmp_path / "ddp.run" / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 3  # one writer: one row per epoch
    assert torch.load(out, weights_only=True)["report"]["fit"]["world_size"] == 2


def test_help_names_every_teacher_kind_and_default_names_are_not_shipped_ones() -> None:
    import argparse

    from distill import cli as distill_cli
    from distill.teachers import KINDS

    proc = cli("distill", "speech", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert all(kind in text for kind in KINDS) and "ge2e" in text
    parser = argparse.ArgumentParser()
    distill_cli.add_arguments(parser)
    shipped = {
        p.name for p in (Path(__file__).parents[1] / "edge" / "models").iterdir() if p.is_dir()
    }
    for modality in ("speech", "face", "eeg"):
        args = parser.parse_args([modality, "-o", "x.pt", *REQUIRED[modality]])
        assert args.name not in shipped, (modality, args.name)


REQUIRED = {
    "speech": ["--teacher", "emodb:x", "--audio", "a"],
    "face": ["--faces", "f.npz"],
    "eeg": ["--dreamer", "d.mat"],
}
