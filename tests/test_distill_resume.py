"""`affect-edge distill face` and `distill eeg` as an ML engineer runs them, through the real
command: every epoch leaves last.pt / best.pt / metrics.csv in the run folder, Ctrl-C keeps them,
and --resume ends with the very weights of a run never stopped (as distill speech does,
tests/test_offline_cli.py); the face licence follows what --faces was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BIN = Path(sys.executable).parent / "affect-edge"
LFW = Path("/work/shared/data/faces/lfw-expressions.npz")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN), *argv], capture_output=True, text=True, cwd=cwd, env=ENV, timeout=600
    )


def interrupted(
    argv: list[str], metrics: Path, rows: int, cwd: Path
) -> subprocess.CompletedProcess:
    """The command, sent SIGINT once `metrics` holds `rows` epochs (after its header)."""
    proc = subprocess.Popen(
        [str(BIN), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env=ENV,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 1 + rows:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def same_weights(a: Path, b: Path) -> bool:
    x = torch.load(a, weights_only=True)["state_dict"]
    y = torch.load(b, weights_only=True)["state_dict"]
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    """240 LFW crops as the user's own array, in a folder whose README states its licence."""
    if not LFW.exists():
        pytest.skip("shared face arrays absent")
    folder = tmp_path_factory.mktemp("mine")
    with np.load(LFW) as z:
        np.savez(folder / "mine.npz", images=z["images"][:240])
    (folder / "README.md").write_text("# my crops\nLicence: CC-BY-4.0 (made by the test)\n")
    return folder / "mine.npz"


FACE = ["distill", "face", "--teacher", "fer", "--batch-size", "32",
        "--arch-config", '{"widths": [4, 4, 4, 4, 4, 4]}']  # fmt: skip


def test_the_face_licence_follows_what_faces_was(crops: Path, tmp_path: Path) -> None:
    done = cli(*FACE, "--faces", str(crops), "--epochs", "1", "-o", "m.pt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    licence = torch.load(tmp_path / "m.pt", weights_only=True)["provenance"]["licence"]
    data = f"data: {crops.parent.name}: CC-BY-4.0 (made by the test); teachers: fer: MIT"
    assert licence.startswith(data), licence
    assert "FER2013 and LFW" not in licence and "research / non-commercial" not in licence
    assert (tmp_path / "m.run" / "last.pt").exists() and (tmp_path / "m.run" / "best.pt").exists()


@pytest.mark.slow
def test_an_interrupted_face_distillation_resumes_where_it_stopped(
    crops: Path, tmp_path: Path
) -> None:
    run = [*FACE, "--faces", str(crops), "--epochs", "5", "--patience", "5"]
    whole = cli(*run, "-o", "whole.pt", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    lines = [ln for ln in whole.stdout.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 5 and "/5  loss" in lines[0] and "ETA" in lines[0]
    cut = interrupted([*run, "-o", "cut.pt"], tmp_path / "cut.run" / "metrics.csv", 2, tmp_path)
    assert cut.returncode == 130, cut.stderr
    assert "rerun the same command with --resume" in cut.stderr
    assert not (tmp_path / "cut.pt").exists()
    stopped_after = torch.load(tmp_path / "cut.run" / "last.pt", weights_only=False)["epoch"] + 1
    assert 2 <= stopped_after < 5
    again = cli(*run, "-o", "cut.pt", cwd=tmp_path)
    assert again.returncode == 2 and "pass --resume to continue it" in again.stderr
    resumed = cli(*run, "-o", "cut.pt", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    first = next(ln for ln in resumed.stdout.splitlines() if ln.startswith("epoch"))
    assert first.startswith(f"epoch {stopped_after + 1:3d}/5")
    assert len((tmp_path / "cut.run" / "metrics.csv").read_text().splitlines()) == 1 + 5
    assert same_weights(tmp_path / "whole.pt", tmp_path / "cut.pt")


@pytest.mark.slow
def test_an_interrupted_eeg_distillation_resumes_in_the_stage_it_stopped(tmp_path: Path) -> None:
    made = cli("distill", "eeg", "--dreamer", "syn.mat", "--write-synthetic", "2", "--epochs",
               "1", "--steps-per-epoch", "1", "-o", "probe.pt", cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0, made.stderr
    run = ["distill", "eeg", "--dreamer", "syn.mat", "--epochs", "4", "--steps-per-epoch", "2"]
    whole = cli(*run, "-o", "whole.pt", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    assert (
        sum(ln.startswith(("teacher  epoch", "student  epoch")) for ln in whole.stdout.splitlines())
        == 8
    )
    # Stopped in the student's stage: the teacher is not trained again.
    metrics = tmp_path / "cut.run" / "student-metrics.csv"
    cut = interrupted([*run, "-o", "cut.pt"], metrics, 1, tmp_path)
    assert cut.returncode == 130, cut.stderr
    assert "rerun the same command with --resume" in cut.stderr
    done = torch.load(tmp_path / "cut.run" / "student-last.pt", weights_only=False)["epoch"] + 1
    resumed = cli(*run, "-o", "cut.pt", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    epochs = [ln for ln in resumed.stdout.splitlines() if " epoch " in ln]
    assert not any(ln.startswith("teacher") for ln in epochs)
    if done < 4:
        assert epochs[0].startswith(f"student  epoch {done + 1:3d}/4")
    assert len(metrics.read_text().splitlines()) == 1 + 4
    assert same_weights(tmp_path / "whole.pt", tmp_path / "cut.pt")
