"""Audio sources: files streamed from disk in every format, and a live PortAudio input device."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from devices.audio import AudioFileSource, read_audio
from devices.audio import file as file_module
from devices.errors import SourceError

pytestmark = pytest.mark.device


def stream(path: Path, **kwargs) -> tuple[list, AudioFileSource]:
    with AudioFileSource(path, **kwargs) as src:
        frames = list(src)
    return frames, src


@pytest.mark.parametrize(
    ("fmt", "subtype", "tol"),
    [
        ("WAV", "PCM_16", 1 / 32768),
        ("WAV", "PCM_24", 1e-6),
        ("WAV", "PCM_U8", 1 / 128),
        ("WAV", "FLOAT", 0),
        ("WAV", "ULAW", 0.03),
        ("WAV", "IMA_ADPCM", 0.05),
        ("WAVEX", "PCM_16", 1 / 32768),
        ("RF64", "PCM_16", 1 / 32768),
        ("FLAC", "PCM_16", 1 / 32768),
        ("OGG", "VORBIS", 0.1),
        ("MP3", "MPEG_LAYER_III", 0.2),
    ],
)
def test_every_format_streams_in_blocks_with_true_times(tmp_path: Path, fmt, subtype, tol) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    x = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, np.stack([x, 0.5 * x], axis=1), rate, format=fmt, subtype=subtype)
    frames, src = stream(path, block_s=0.01)
    assert src.state == "closed"
    assert {f.data.shape[0] for f in frames} == {2} and frames[0].channels == ("ch0", "ch1")
    assert all(f.data.dtype == np.float32 and f.kind == "audio" for f in frames)
    # Every frame starts where the previous ended, on the file's own sample clock.
    for a, b in itertools.pairwise(frames):
        assert b.start_s == pytest.approx(a.end_s)
        assert b.seq == a.seq + 1
    got = np.concatenate([f.data for f in frames], axis=1)
    if fmt not in ("OGG", "MP3"):  # lossy codecs shift and smear; only their length is checked
        # ADPCM stores whole blocks (the file ends in padding) and its adaptive step needs a few
        # samples to settle.
        adpcm = subtype == "IMA_ADPCM"
        assert got.shape[1] == rate or (adpcm and got.shape[1] > rate)
        s = slice(100 if adpcm else 0, rate)
        np.testing.assert_allclose(got[0, s], x[s], atol=tol + 1e-7)
        np.testing.assert_allclose(got[1, s], 0.5 * x[s], atol=tol + 1e-7)
    else:
        assert abs(got.shape[1] - rate) < 0.1 * rate
    mono, _ = stream(path, block_s=0.01, mono=True)
    np.testing.assert_allclose(
        np.concatenate([f.data for f in mono], axis=1)[0], got.mean(axis=0), atol=1e-6
    )


def test_stdlib_reader_gives_the_same_samples_without_soundfile(
    tmp_path: Path, monkeypatch, rng
) -> None:
    x = rng.uniform(-0.9, 0.9, size=(3000, 2)).astype(np.float32)
    for subtype in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, x, 8000, subtype=subtype)
        with_sf, _ = stream(path, block_samples=333)
        monkeypatch.setattr(file_module, "_open_reader", file_module._WaveReader)
        without, src = stream(path, block_samples=333)
        monkeypatch.undo()
        assert src.format == f"WAV/PCM_{subtype[-2:].lstrip('_') if subtype != 'PCM_U8' else 8}"
        np.testing.assert_array_equal(
            np.concatenate([f.data for f in with_sf], axis=1),
            np.concatenate([f.data for f in without], axis=1),
        )


def test_a_truncated_wav_keeps_whole_frames_through_the_stdlib_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.arange(20, dtype="<i2").tobytes())
    path.write_bytes(path.read_bytes()[:-3])
    reader = file_module._WaveReader(path)
    assert reader.read(100).shape == (9, 2)  # 37 bytes left: 9 whole 4-byte frames
    reader.close()


def test_memory_stays_bounded_for_a_long_file(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    rate = 16000
    with sf.SoundFile(path, "w", rate, 1, format="FLAC") as f:
        block = (0.1 * np.sin(np.arange(rate) * 0.05)).astype(np.float32)
        for _ in range(300):  # 5 minutes: 19 MB as float32 in memory
            f.write(block)
    tracemalloc.start()
    n = 0
    with AudioFileSource(path, block_s=0.05) as src:
        for frame in src:
            n += frame.n_samples
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == 300 * rate
    assert peak < 2_000_000, f"streaming a 5-minute file peaked at {peak:,} bytes"


def test_bad_paths_and_files_are_clear_source_errors(tmp_path: Path) -> None:
    (tmp_path / "dir.wav").mkdir()
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    (tmp_path / "empty.wav").write_bytes(b"")
    cases = {
        tmp_path / "nope.wav": r"audio file not found: .*nope.wav",
        tmp_path / "dir.wav": r"dir.wav is a directory, not an audio file",
        tmp_path / "junk.wav": r"junk.wav is not readable audio \(\w",
        tmp_path / "empty.wav": r"empty.wav is not readable audio \(\w",
    }
    for path, message in cases.items():
        with pytest.raises(SourceError, match=message):
            stream(path)
    header_only = tmp_path / "header.wav"
    sf.write(header_only, np.zeros(0, np.float32), 16000)
    frames, src = stream(header_only)
    assert frames == [] and src.n_samples == 0
    with pytest.raises(SourceError, match="block_s must be a positive number"):
        AudioFileSource(header_only, block_s=float("nan"))


def test_life_cycle_is_enforced_and_always_released(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(1600, np.float32), 16000)
    src = AudioFileSource(path)
    with pytest.raises(SourceError, match="read\\(\\) on a source that is new"):
        src.read()
    with pytest.raises(RuntimeError), src:
        assert src.state == "running"
        raise RuntimeError("the body fails")
    assert src.state == "closed"
    x, rate = read_audio(path)
    assert x.shape == (1, 1600) and rate == 16000


# --- live input through PortAudio -----------------------------------------------------------------
# No sound card here: an ALSA `file` PCM reading a raw file is a real capture device for PortAudio.
# PortAudio reads ALSA's configuration when it starts, so each check runs in a fresh process.
ASOUNDRC = """
pcm.affectin {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{infile}"
    format "raw"
}}
pcm.affectmic {{
    type plug
    slave {{ pcm "affectin" format S16_LE rate 16000 channels 1 }}
}}
"""

MIC_SCRIPT = """
import json, sys
import numpy as np
from devices.audio import MicrophoneSource
ring, count, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
src = MicrophoneSource("affectmic", rate_hz=16000, block_samples=160, ring_blocks=ring)
frames = []
with src:
    rate = src.rate_hz
    for f in src:
        frames.append(f)
        if len(frames) >= count:
            break
        if pause:
            import time; time.sleep(pause)
np.save(sys.argv[4], np.stack([f.data[0] for f in frames]))
print(json.dumps({"rate": rate, "starts": [f.start_s for f in frames], **src.stats()}))
"""


@pytest.fixture(scope="module")
def alsa_home(tmp_path_factory) -> tuple[Path, np.ndarray]:
    pytest.importorskip("sounddevice")
    home = tmp_path_factory.mktemp("alsa")
    # Noise, so that a misplaced block cannot pass for another. The ALSA file device runs far
    # faster than real time (a 20 s file is used up in milliseconds, after which it repeats its
    # last period): 8 minutes keep it playing while a slow reader works.
    ref = (np.random.default_rng(3).standard_normal(8 * 60 * 16000) * 3000).astype("<i2")
    ref.tofile(home / "in.raw")
    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=home / "in.raw"))
    return home, ref


def run_mic(home: Path, ring: int, count: int, pause: float) -> tuple[dict, np.ndarray]:
    out = home / f"mic-{ring}-{count}.npy"
    env = {**os.environ, "HOME": str(home)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(MIC_SCRIPT),
            str(ring),
            str(count),
            str(pause),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if done.returncode != 0 and "PortAudio" in done.stderr:
        pytest.skip(f"PortAudio unavailable: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.splitlines()[-1]), np.load(out)


def test_microphone_delivers_every_sample_in_order(alsa_home) -> None:
    home, ref = alsa_home
    stats, blocks = run_mic(home, ring=4096, count=300, pause=0.0)
    assert stats["rate"] == 16000.0 and stats["dropped_frames"] == 0
    np.testing.assert_array_equal(blocks.reshape(-1), ref[: 300 * 160])
    assert stats["starts"] == pytest.approx([i * 0.01 for i in range(300)])


def test_microphone_counts_what_a_slow_reader_lost_and_stamps_the_rest_truly(alsa_home) -> None:
    # The ALSA file device delivers far faster than real time; a tiny ring and a slow reader
    # lose blocks. Each block that arrives must still sit at its true place in the input.
    home, ref = alsa_home
    stats, blocks = run_mic(home, ring=4, count=30, pause=0.0005)
    assert stats["dropped_frames"] > 0
    assert stats["dropped_samples"] == 160 * stats["dropped_frames"]
    starts = np.array(stats["starts"])
    positions = np.round(starts * 16000).astype(int)
    inside = positions + 160 <= ref.size
    assert inside.sum() >= 4
    for pos, block in zip(positions[inside], blocks[inside], strict=True):
        np.testing.assert_array_equal(block, ref[pos : pos + 160])
    gaps = np.diff(positions) - 160
    assert gaps.min() >= 0 and gaps.sum() <= stats["dropped_samples"]
