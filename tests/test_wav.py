"""The stdlib WAV reader: formats, channels, and clear errors for non-audio."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from devices.audio import read_wav
from edge.errors import SourceError


@pytest.mark.parametrize(
    ("subtype", "tol"),
    [("PCM_16", 1 / 32768), ("PCM_24", 1e-6), ("PCM_32", 1e-8), ("PCM_U8", 1 / 128)],
)
def test_reads_what_soundfile_writes(tmp_path: Path, subtype: str, tol: float, rng) -> None:
    x = (rng.uniform(-0.9, 0.9, size=(1000, 2))).astype(np.float32)
    path = tmp_path / "a.wav"
    sf.write(path, x, 8000, subtype=subtype)
    audio = read_wav(path)
    assert audio.rate_hz == 8000 and audio.n_channels == 2
    np.testing.assert_allclose(audio.samples, sf.read(path, dtype="float32")[0], atol=1e-7)
    np.testing.assert_allclose(audio.samples, x, atol=tol)
    np.testing.assert_allclose(audio.mono(), x.mean(axis=1), atol=tol)
    assert audio.duration_s == pytest.approx(0.125)


def test_missing_corrupt_and_float_files_get_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not found"):
        read_wav(tmp_path / "nope.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(SourceError, match="not a PCM WAV"):
        read_wav(junk)
    floats = tmp_path / "float.wav"
    sf.write(floats, np.zeros(100, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SourceError, match="not a PCM WAV"):
        read_wav(floats)


def test_truncated_file_keeps_whole_frames(tmp_path: Path) -> None:
    path = tmp_path / "t.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.arange(20, dtype="<i2").tobytes())
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    audio = read_wav(path)
    assert audio.samples.shape == (9, 2)  # 37 bytes left: 9 whole 4-byte frames
