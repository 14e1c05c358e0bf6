"""A soak test sized for CI: ten minutes of speech and of 14-channel EEG through the daemon at ten
times real time (one minute): every window of the input accounted for (delivered, or counted as
replaced when the model was still busy), and the memory flat."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from devices.eeg import CsvEegSource
from distill.dreamer import EMOTIV_14, synthetic_trial
from edge import modalities
from edge.daemon.config import load_config
from edge.daemon.runner import Daemon
from edge.pipelines.eeg import EegPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from tests.streams import run_stream

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"
SECONDS = 600
SPEED = 10.0

pytestmark = pytest.mark.slow


def test_ten_minutes_at_ten_times_real_time(tmp_path):
    clip, rate = sf.read(CLIP, dtype="float32")
    audio = np.resize(clip, SECONDS * rate)
    sf.write(tmp_path / "long.wav", audio, rate, subtype="PCM_16")
    eeg = synthetic_trial(np.random.default_rng(0), SECONDS, 3, 3, np.ones(14), True, EMOTIV_14)
    lines = ["t," + ",".join(EMOTIV_14)]
    lines += [f"{i / 128:.5f}," + ",".join(f"{v:.1f}" for v in row) for i, row in enumerate(eeg)]
    (tmp_path / "long.csv").write_text("\n".join(lines) + "\n")
    columns = json.dumps(list(EMOTIV_14))

    # What the pipelines give for these inputs when nothing is paced or threaded.
    with modalities.opened("speech", f"file:{tmp_path / 'long.wav'}") as (source, pipe):
        expected_speech = len(run_stream(pipe, source))
    src = CsvEegSource(tmp_path / "long.csv", list(EMOTIV_14), time_column="t")
    with src, EegPipeline(load_bundle(default_bundle("eeg")), 128, EMOTIV_14) as pipe:
        expected_eeg = len(run_stream(pipe, src))

    events = tmp_path / "events.jsonl"
    config = tmp_path / "soak.toml"
    config.write_text(
        f"""
queue = 10000
report_s = 5
[speech]
source = "file:{tmp_path / "long.wav"}"
speed = {SPEED}
block_ms = 50
[eeg]
source = "file:{tmp_path / "long.csv"}"
csv_columns = {columns}
csv_time = "t"
speed = {SPEED}
[[sinks]]
kind = "jsonl"
path = "{events}"
"""
    )
    daemon = Daemon(load_config(config))
    rss = []
    try:
        deadline = time.monotonic() + SECONDS / SPEED + 60
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(1.0)
            rss.append(daemon.snapshot()["rss_bytes"])
        snap = daemon.snapshot()
    finally:
        daemon.close()
    got = [json.loads(line) for line in events.read_text().splitlines()]
    count = {m: sum(e["modality"] == m for e in got) for m in ("speech", "eeg", "system")}
    # Every window of the input is accounted for: delivered, or (when a loaded machine kept the
    # model busy past the next window) replaced and counted. Nothing goes missing unsaid.
    dropped = {m: snap["modalities"][m]["pipeline"]["dropped_windows"] for m in ("speech", "eeg")}
    assert count["speech"] + dropped["speech"] == expected_speech > 1000
    assert count["eeg"] + dropped["eeg"] == expected_eeg > 500
    assert dropped["speech"] <= expected_speech // 100 and dropped["eeg"] <= expected_eeg // 100
    assert count["system"] >= (SECONDS / SPEED) // 5 - 2
    assert snap["bus"]["dropped"] == 0
    # Memory: flat after the first ten seconds (both models loaded, buffers allocated).
    growth = max(rss[10:]) - rss[10]
    assert growth < 20 * 2**20, f"RSS grew {growth / 2**20:.1f} MiB"
