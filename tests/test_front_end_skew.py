"""One speech front end: what training, calibration and the device compute for a file are equal,
bit for bit, whatever the block size the device streams it in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from devices.audio import AudioFileSource
from distill.audio import Item
from distill.features import SPEECH_SPEC, file_features
from distill.pseudolabel import item_features
from edge.frontends.speech import SpeechFrontEnd, windows
from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from edge.samples import sample_clip
from quant.calibrate import logmel_windows


def device_frames(path: Path, block_s: float) -> np.ndarray:
    """Every log-mel frame the device's front end computes streaming the file."""
    out = []
    with AudioFileSource(path, block_s=block_s, mono=True) as src:
        front = SpeechFrontEnd(SPEECH_SPEC, int(src.rate_hz))
        for frame in src:
            front.feed(frame.data)
            while made := front.pull(front.ring_frames):
                rows = np.arange(front.total_frames - made, front.total_frames) % front.ring_frames
                out.append(front.frames[rows].copy())
        front.finish()
        while made := front.pull(front.ring_frames):
            rows = np.arange(front.total_frames - made, front.total_frames) % front.ring_frames
            out.append(front.frames[rows].copy())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    """The sample clip (22.05 kHz WAV), a 48 kHz stereo float WAV with DC, a 16 kHz FLAC; and
    real EmoDB and RAVDESS files where ../shared is present."""
    tmp = tmp_path_factory.mktemp("skew")
    rng = np.random.default_rng(5)
    t = np.arange(int(2.3 * 48000)) / 48000
    voice = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.2
    stereo = np.stack([voice, voice + 0.01 * rng.standard_normal(t.size)], axis=1)
    sf.write(tmp / "stereo48k.wav", stereo.astype(np.float32), 48000, subtype="FLOAT")
    sf.write(tmp / "mono16k.flac", voice[::3].astype(np.float32), 16000)
    out = [sample_clip(), tmp / "stereo48k.wav", tmp / "mono16k.flac"]
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    out += sorted((shared / "emodb-train" / "wav").glob("03a01*.wav"))[:1]
    out += sorted((shared / "ravdess-train" / "audio").glob("*-05.flac"))[:1]
    return out


@pytest.mark.parametrize("block_s", [0.002, 0.01, 0.0371, 1.0])
def test_training_features_equal_the_device_stream_bit_for_bit(files, block_s) -> None:
    for path in files:
        trained = file_features(path)
        np.testing.assert_array_equal(device_frames(path, block_s), trained, err_msg=str(path))


def test_distillation_items_use_the_device_frames(files, tmp_path: Path) -> None:
    path = files[0]
    streamed = device_frames(path, 0.01)
    segment = item_features(path.parent, Item(path.name, 0, 0, "s"), 2.0, {})
    n_fft, hop = SPEECH_SPEC.n_fft, SPEECH_SPEC.hop_length
    assert len(segment) == (32000 - n_fft) // hop + 1  # the frames inside the first 2 s
    np.testing.assert_array_equal(segment, streamed[: len(segment)])
    second = item_features(path.parent, Item(path.name, 1, 0, "s"), 2.0, {})
    first = -(-32000 // hop)
    np.testing.assert_array_equal(second, streamed[first : first + len(second)])


def test_calibration_windows_are_what_the_model_sees_on_the_device(files, tmp_path: Path) -> None:
    folder = tmp_path / "calib"
    folder.mkdir()
    for path in files[:3]:
        (folder / path.name).write_bytes(path.read_bytes())
    calib = logmel_windows(folder, SPEECH_SPEC.to_dict(), SPEECH_SPEC.input_shape(), hop_frames=50)
    expected = np.concatenate(
        [
            windows(file_features(folder / p.name), SPEECH_SPEC, 50)
            for p in sorted(files[:3], key=lambda p: p.name)
        ]
    )
    np.testing.assert_array_equal(calib, expected)


def test_the_pipeline_hands_the_model_the_training_windows(files) -> None:
    """Every window the device scores equals the training-time window at the same frames."""
    bundle = load_bundle(default_bundle("speech"))
    path = files[0]
    seen = []
    with AudioFileSource(path, block_s=0.013, mono=True) as src:
        pipe = SpeechPipeline(bundle, input_rate_hz=int(src.rate_hz))
        original = pipe._infer

        def record(window):  # observe the model's input; the real engine still runs
            values = original(window)
            seen.append(window.inputs.copy())
            return values

        pipe._infer = record
        for frame in src:
            pipe.push(frame)
        pipe.flush()
        pipe.close()
    frames = file_features(path)
    expected = windows(frames, SPEECH_SPEC, 50)
    scored = np.stack(seen)[:, 0]
    assert len(scored) == len(expected) + 1  # plus the tail window scored at the end
    np.testing.assert_array_equal(scored[:-1], expected)
    np.testing.assert_array_equal(scored[-1], windows(frames[-100:], SPEECH_SPEC, 50)[0])
