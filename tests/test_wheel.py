"""A wheel built from the project carries its models and runs on its own, outside the repository."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


#: What the copy the wheel is built from leaves out: version control, environments, caches, and
#: the build folder (whose compiled parts are copied on their own below).
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once per test session from a copy of the working tree.

    Not in the checkout itself: setuptools rewrites the checkout's affect_edge.egg-info while it
    builds, and that folder is the metadata this test session's own `affect-edge` reads its
    contributed commands from (CI once saw no `export-c` command while a build ran). Nor twice
    at once (two builds in one build/ folder collide): under pytest-xdist the workers share one
    build, made under a lock in the folder their temporary folders share. The checkout's
    compiled extensions (build/lib.*, build/temp.*) come along, so the build links, not compiles."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    out = shared / "wheel-dist"
    with open(shared / "wheel.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not list(out.glob("affect_edge-*.whl")):
            tree = shared / "wheel-src"
            shutil.rmtree(tree, ignore_errors=True)
            shutil.copytree(ROOT, tree, ignore=NOT_COPIED)
            for built in [*ROOT.glob("build/lib.*"), *ROOT.glob("build/temp.*")]:
                shutil.copytree(built, tree / "build" / built.name)
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "wheel",
                    "--no-deps",
                    "--no-build-isolation",
                    "-q",
                    "-w",
                    str(out),
                    str(tree),
                ],
                capture_output=True,
                text=True,
                timeout=900,
                cwd=shared,
            )
            assert done.returncode == 0, done.stderr[-3000:]
    (path,) = out.glob("affect_edge-*.whl")
    return path


def test_the_wheel_holds_the_models_and_everything_they_need(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "edge/models/speech-adv/manifest.json",
        "edge/models/speech-adv/model_int8.onnx",
        "edge/models/speech-adv/model_int8.tflite",
        "edge/data/samples/speech_en.wav",
        "edge/event.schema.json",
        "edge/runtime/manifest.schema.json",
        "edge/dsp/data/filter_designs.json",
        "devices/profiles/x86-host.toml",
        "devices/profiles/hearing-aid-coprocessor.toml",
        # What `affect-edge export-c` copies into a firmware project.
        "firmware_bridge/c/ae_dsp.c",
        "firmware_bridge/c/ae_logmel.c",
        "firmware_bridge/c/ae_eeg.h",
        "firmware_bridge/c/affect_proto.h",
    ):
        assert needed in names, needed
    assert any(n.startswith("edge/dsp/_speech.") and n.endswith(".so") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "affect_edge.commands" in text and "distill = distill.cli" in text
    assert "export-c = firmware_bridge.export_cli" in text


def test_the_installed_wheel_runs_speech_outside_the_repository(
    wheel: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # Dependencies (numpy, onnxruntime, soundfile...) come from this environment through a .pth
    # line, which adds the folder to sys.path after the new environment's own packages; the .pth
    # files inside it (this checkout's editable install) are not processed, so `edge` can only
    # come from the wheel.
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    done = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AFFECT_EDGE_MODELS")}
    where = subprocess.run(
        [str(py), "-c", "import edge, sys; print(edge.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(venv)), where
    clip = subprocess.run(
        [str(py), "-c", "from edge.samples import sample_clip; print(sample_clip())"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        check=True,
    ).stdout.strip()
    assert clip.startswith(str(venv))
    run = subprocess.run(
        [str(venv / "bin" / "affect-edge"), "run", "speech", clip, "--json"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(events) == 12 and all(e["model"]["name"] == "speech-adv" for e in events)
    listed = subprocess.run(
        [str(venv / "bin" / "affect-edge"), "models", "list", "--json"],
        capture_output=True,
        text=True,
        cwd=work,
        env=env,
        timeout=300,
    )
    bundles = json.loads(listed.stdout)["bundles"]
    assert [b["name"] for b in bundles] == [
        "eeg-valence",
        "eeg-valence-cyton8",
        "eeg-valence-muse4",
        "face-detect",
        "face-expr",
        "speech-adv",
    ]
    assert all(b["path"].startswith(str(venv)) for b in bundles)
