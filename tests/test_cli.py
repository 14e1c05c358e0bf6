"""The command line: demo, features, help and errors, run in-process on real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from devices.audio import read_wav
from edge.cli.demo import sample_clip
from edge.cli.main import main
from edge.dsp import LogMelConfig, log_mel, resample


def test_demo_prints_the_speech_summary_and_the_eeg_alpha_burst(capsys) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "speech_en.wav" in out
    rows = [line for line in out.splitlines() if " s " in line and "-" in line and "│" in line]
    alpha = {r.split("│")[1].strip(): float(r.split("│")[2]) for r in rows}
    assert min(alpha["4-5 s"], alpha["5-6 s"]) > max(alpha["0-1 s"], alpha["1-2 s"]) + 0.5


def test_features_json_and_saved_frames_equal_the_batch_front_end(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "frames.npy"
    assert (
        main(["features", str(sample_clip()), "--json", "-o", str(out_file), "--block-ms", "7"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    frames = np.load(out_file)
    audio = read_wav(sample_clip())
    expected = log_mel(
        resample(audio.mono().astype(np.float64), audio.rate_hz, 16000), LogMelConfig()
    )
    assert summary["frames"] == frames.shape[0] == expected.shape[0]
    np.testing.assert_allclose(frames, expected, atol=1e-4)
    assert summary["duration_s"] == pytest.approx(6.26, abs=0.01)
    assert 0.2 < summary["active_ratio"] < 0.95


def test_bad_file_is_a_clear_error_not_a_traceback(tmp_path: Path, capsys) -> None:
    bogus = tmp_path / "x.wav"
    bogus.write_text("hello")
    assert main(["features", str(bogus)]) == 2
    assert "not a PCM WAV" in capsys.readouterr().err


def test_help_lists_the_commands(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "features" in out
