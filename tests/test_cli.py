"""The command line as a user runs it: the real `affect-edge` entry point, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from devices.audio import read_audio
from edge.frontends.speech import features
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from edge.samples import sample_clip

BIN = Path(sys.executable).parent / "affect-edge"


def cli(*argv: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run the installed command; returns the CompletedProcess (text)."""
    return subprocess.run(
        [str(BIN), *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def test_demo_prints_speech_log_mel_and_eeg_levels_with_flags(tmp_path: Path) -> None:
    done = cli("demo", "--speed", "4", "--plot", str(tmp_path / "three.png"))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "speech_en.wav" in out and "arousal" in out
    assert "blink: AF3,AF4" in out and "muscle: T7,T8" in out and "SYNTHETIC" in out
    assert "x86-host profile's budgets" in out and " ok " in out.replace("│", " ")
    assert (tmp_path / "three.png").stat().st_size > 20_000
    assert "XNNPACK" not in done.stderr


def test_demo_json_carries_every_part() -> None:
    done = cli("demo", "--json", "--speed", "4")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    events = doc["speech"]["events"]
    assert len(events) >= 10 and {"arousal", "dominance", "valence"} <= set(events[0]["values"])
    assert (
        doc["log_mel"]["front_end"]["n_mels"] == 40 and doc["log_mel"]["front_end"]["fmax"] == 7600
    )
    eeg = doc["eeg"]["events"]
    assert doc["eeg"]["synthetic"] is True and 7 <= len(eeg) <= 9
    assert eeg[0]["updated"] and 1.0 <= eeg[0]["values"]["level"] <= 5.0
    assert any("blink" in e["quality"] and not e["updated"] for e in eeg)
    together = doc["together"]
    assert together["events"]["speech"] >= 10 and together["events"]["face"] >= 10
    assert {b["modality"] for b in together["budgets"]} == {"speech", "face", "eeg"}
    assert all(b["model_p99_ms"] > 0 for b in together["budgets"])


def test_features_saves_exactly_the_frames_training_computes(tmp_path: Path) -> None:
    out_file = tmp_path / "frames.npy"
    done = cli("features", str(sample_clip()), "--json", "-o", str(out_file), "--block-ms", "7")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    frames = np.load(out_file)
    x, rate = read_audio(sample_clip())
    expected = features(x[0], rate, load_bundle(default_bundle("speech")).manifest.front_end)
    assert summary["frames"] == frames.shape[0] == expected.shape[0]
    np.testing.assert_array_equal(frames, expected)
    assert summary["duration_s"] == pytest.approx(6.26, abs=0.01)
    assert 0.2 < summary["active_ratio"] < 0.95 and not summary["silent"]


def test_help_lists_every_command_including_the_offline_ones() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("demo", "run", "features", "models", "bench", "profiles", "distill", "export"):
        assert f"    {command} " in done.stdout


def test_run_eeg_on_a_muse_csv_picks_the_bundle_with_its_electrodes(tmp_path: Path) -> None:
    from distill.dreamer import synthetic_trial
    from edge.dsp import resample

    muse = ("TP9", "AF7", "AF8", "TP10")
    rng = np.random.default_rng(4)
    x = synthetic_trial(rng, 30.0, 4, 3, np.ones(4), False, muse)  # 128 Hz, with DC offsets
    x = resample(x.T.astype(np.float64), 128, 256)  # a Muse streams 256 Hz
    path = tmp_path / "muse.csv"
    lines = ["t,RAW_TP9,RAW_AF7,RAW_AF8,RAW_TP10"]
    lines += [f"{i / 256:.6f}," + ",".join(f"{v:.3f}" for v in x[:, i]) for i in range(x.shape[1])]
    path.write_text("\n".join(lines) + "\n")
    # Mind Monitor's RAW_<electrode> columns and a time column are recognised: nothing to name.
    done = cli("run", "eeg", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert "using eeg-valence-muse4" in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert 15 <= len(events) <= 19  # 30 s less 2 s of settling and 10 s of calibration, per 1 s
    assert {e["model"]["name"] for e in events} == {"eeg-valence-muse4"}
    assert sum(e["updated"] for e in events) >= 10
    # Columns that do not name the electrodes: no bundle fits, and the error says what is missing.
    raw = cli("run", "eeg", str(path), "--csv-columns", "RAW_TP9,RAW_AF7", "--csv-time", "t")
    assert raw.returncode == 2 and "needs electrode(s) AF3" in raw.stderr


def test_run_eeg_on_an_emotivpro_export_without_naming_its_columns(tmp_path: Path) -> None:
    from edge.samples import EMOTIV_14, synthetic_eeg

    x = synthetic_eeg()  # 12 s at 128 Hz, µV over Emotiv-like DC offsets, a blink at 6.3 s
    path = tmp_path / "emotiv.csv"
    rows = [
        "title:demo, start timestamp:1623658701.0, headset type:EPOCX, sampling rate:128, "
        f"samples:{x.shape[1]}, version:2.1,",
        "Timestamp,EEG.Counter,EEG.Interpolated,"
        + ",".join(f"EEG.{n}" for n in EMOTIV_14)
        + ",EEG.Battery,MarkerIndex",
    ]
    rows += [
        f"{1623658701 + i / 128:.6f},{i % 128},0," + ",".join(f"{v:.4f}" for v in x[:, i]) + ",4,"
        for i in range(x.shape[1])
    ]
    path.write_text("\n".join(rows) + "\n")
    done = cli("run", "eeg", str(path), "--calibration-s", "2", "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert {e["model"]["name"] for e in events} == {"eeg-valence"}
    assert "read as EmotivPRO: EEG columns EEG.AF3, EEG.F7" in done.stderr
    assert 7 <= len(events) <= 9  # 12 s less 2 s of settling and 2 s of calibration, per 1 s
    blink = [e for e in events if e["start_s"] <= 6.3 <= e["start_s"] + 1.0]
    assert blink and all("blink" in str(e["quality"]) for e in blink)
