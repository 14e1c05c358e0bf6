"""Ctrl-C keeps what was seen: `affect-edge run` interrupted by SIGINT in a real subprocess still
finishes its outputs (the annotated video, the plot, the -o file) and prints its summary, then
exits 130. Each run is interrupted once its first event is in the -o file, so mid-stream."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.cli_cases import BIN, CLIP, FACE


def interrupted(argv: list[str], events: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Start `affect-edge argv`, wait for its first event in `events`, send SIGINT, and wait."""
    proc = subprocess.Popen(
        [str(BIN), *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if events.exists() and events.read_text().count("\n") >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted: " + str(
        proc.communicate()
    )
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ctrl_c_during_run_speech_keeps_the_plot_the_events_and_the_summary(
    tmp_path: Path,
) -> None:
    x, rate = sf.read(CLIP, dtype="float32")
    sf.write(tmp_path / "long.wav", np.tile(x, 6), rate)  # about a minute, paced to real time
    done = interrupted(
        ["run", "speech", "long.wav", "--realtime", "-o", "ev.jsonl", "--plot", "adv.png"],
        tmp_path / "ev.jsonl",
        tmp_path,
    )
    assert done.returncode == 130, done.stderr
    events = lines(tmp_path / "ev.jsonl")
    assert 1 <= len(events) < 100
    assert "window" in done.stdout and "arousal" in done.stdout  # the table of what was seen
    assert "plot written to adv.png" in done.stdout
    assert (tmp_path / "adv.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in done.stderr


def test_ctrl_c_during_run_face_on_a_video_keeps_the_annotated_video(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    image = np.ascontiguousarray(cv2.imread(str(FACE))[0:256, 96:352])  # the face, 94 px
    writer = cv2.VideoWriter(
        str(tmp_path / "long.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (256, 256)
    )
    for _ in range(3000):  # 2 minutes: far longer than the test waits
        writer.write(image)
    writer.release()
    done = interrupted(
        ["run", "face", "long.avi", "--annotate", "seen.mp4", "-o", "ev.jsonl"],
        tmp_path / "ev.jsonl",
        tmp_path,
    )
    assert done.returncode == 130, done.stderr
    assert "annotated video written to seen.mp4" in done.stdout
    assert "latency: detector median" in done.stdout  # the summary of what was seen
    check = cv2.VideoCapture(str(tmp_path / "seen.mp4"))
    frames = int(check.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, picture = check.read()
    check.release()
    assert ok and picture.shape == (256, 256, 3)
    assert 1 <= frames < 3000
    assert len(lines(tmp_path / "ev.jsonl")) >= 1
    assert not list(tmp_path.glob(".seen.*"))  # no temporary file left behind


def test_ctrl_c_during_run_eeg_on_the_synthetic_board_keeps_the_summary(tmp_path: Path) -> None:
    pytest.importorskip("brainflow")
    done = interrupted(
        [
            "run",
            "eeg",
            "--board",
            "synthetic",
            "--seconds",
            "120",
            "--calibration-s",
            "1",
            "--hop-s",
            "0.25",
            "-o",
            "ev.jsonl",
        ],
        tmp_path / "ev.jsonl",
        tmp_path,
    )
    assert done.returncode == 130, done.stderr
    events = lines(tmp_path / "ev.jsonl")
    assert len(events) >= 1
    assert f"{len(events)} windows" in done.stdout  # the summary counts what was written
    assert "Traceback" not in done.stderr
