"""`affect-edge bridge --stdio` as a user drives it: a recording's frames piped in at full speed
through the real command in a subprocess, the replies decoded from its stdout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from firmware_bridge.protocol import Affect, Audio, Decoder, Error, decode_message, encode_message
from tests.streams import audio_frames, run_stream

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "affect-edge"
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"


def bridge(frames: bytes) -> tuple[list, str]:
    done = subprocess.run(
        [str(BIN), "bridge", "--stdio"], input=frames, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    return [decode_message(f) for f in Decoder().feed(done.stdout)], done.stderr.decode()


def audio_stream(x: np.ndarray, rate: int, block: int) -> bytes:
    blocks = [x[i : i + block] for i in range(0, len(x), block)]
    out = [
        encode_message(Audio(rate, b[:, None]), 1 + i, round(i * block / rate * 1e6))
        for i, b in enumerate(blocks)
    ]
    out.append(encode_message(Audio(rate, np.zeros((0, 1), np.int16)), 1 + len(blocks)))
    return b"".join(out)


def test_a_recording_piped_in_at_full_speed_is_scored_whole() -> None:
    # 540 frames of 256 samples written at once: a queue of 64 dropped 476 of them before.
    x, rate = sf.read(CLIP, dtype="int16")
    replies, stderr = bridge(audio_stream(x, rate, 256))
    with SpeechPipeline(load_bundle(default_bundle("speech")), input_rate_hz=rate) as pipe:
        expected = run_stream(pipe, audio_frames(x, rate, 256))
    affect = [m for m in replies if isinstance(m, Affect)]
    assert not [m for m in replies if isinstance(m, Error)]
    assert '"dropped_blocks": 0' in stderr
    assert len(affect) == len(expected) == 12
    for got, want in zip(affect, expected, strict=True):
        assert abs(got.window_end_us - round(want.end_s * 1e6)) <= 1
        # The wire carries each value in 16 bits.
        np.testing.assert_allclose(
            got.values, [v for k, v in want.values.items() if k != "level"], atol=1 / 65535
        )


def test_an_audio_rate_the_model_cannot_use_is_answered_unsupported_not_internal() -> None:
    x = (np.sin(np.arange(700) / 5) * 8000).astype(np.int16)
    replies, _ = bridge(audio_stream(x, 7, 100))
    errors = [m for m in replies if isinstance(m, Error)]
    assert errors and {e.code for e in errors} == {2}
    assert "audio at 7 Hz is outside what the speech model can use" in errors[0].message
