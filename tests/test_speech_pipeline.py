"""The speech pipeline and `affect-edge run speech` on the shipped default bundle and real audio."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from devices.audio import read_wav
from edge.cli.demo import sample_clip
from edge.cli.main import main
from edge.cli.run import DEFAULT_SPEECH_BUNDLE, default_bundle
from edge.dsp import resample
from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle

ADV = ("arousal", "dominance", "valence")


@pytest.fixture(scope="module")
def bundle():
    path = default_bundle(DEFAULT_SPEECH_BUNDLE)
    if not (path / "manifest.json").is_file():
        pytest.fail(
            f"the default speech bundle is missing at {path}; rebuild it: python scripts/build_default_speech.py"
        )
    return load_bundle(path)


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, int]:
    audio = read_wav(sample_clip())
    return audio.mono(), audio.rate_hz


def stream(bundle, x: np.ndarray, rate: int, block: int = 160, **kwargs) -> list:
    pipe = SpeechPipeline(bundle, input_rate_hz=rate, **kwargs)
    events = []
    for s in range(0, len(x), block):
        events += pipe.process_block(x[s : s + block])
    return events + pipe.flush()


def values(events) -> np.ndarray:
    return np.array([[e.values[k] for k in ADV] for e in events if e.voiced])


def test_default_bundle_meets_the_limits_and_says_what_taught_it(bundle) -> None:
    m = bundle.manifest
    assert m.params <= 72_000
    assert m.model("onnx", "int8").size_bytes <= 64 * 1024
    assert m.model("tflite", "int8").size_bytes <= 64 * 1024
    tflite_int8 = m.model("tflite", "int8")
    assert (tflite_int8.inputs[0].dtype, tflite_int8.outputs[0].dtype) == (
        "int8",
        "int8",
    )  # full-integer
    assert m.front_end["window_norm"] == "mean"
    assert "research" in m.provenance.licence and "EmoDB" in m.provenance.data
    student = m.measured["student"]
    assert student["split"]["by"] == "speaker" and student["split"]["held_out"] == ["03"]
    assert set(student["student_vs_teacher_ccc"]) == set(ADV)
    assert student["cost"]["macs_per_second_of_audio"] == round(m.macs / m.front_end["update_s"])


def test_any_block_size_gives_the_same_events(bundle, clip) -> None:
    x, rate = clip
    x16 = resample(x.astype(np.float64), rate, 16000).astype(np.float32)
    reference = stream(bundle, x16, 16000, block=160)
    assert len(reference) == 11 and all(e.voiced for e in reference)
    for block in (37, 1000, len(x16)):
        other = stream(bundle, x16, 16000, block=block)
        assert [(e.start_s, e.end_s) for e in other] == [(e.start_s, e.end_s) for e in reference]
        np.testing.assert_allclose(values(other), values(reference), atol=1e-6)
    v = values(reference)
    assert np.all((v >= 0) & (v <= 1))


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_other_sample_rates_are_resampled(bundle, clip, rate) -> None:
    x, native = clip
    at_rate = resample(x.astype(np.float64), native, rate).astype(np.float32)
    events = stream(bundle, at_rate, rate, block=rate // 100)
    reference = stream(
        bundle, resample(x.astype(np.float64), native, 16000).astype(np.float32), 16000
    )
    assert len(events) == len(reference)
    tolerance = 0.2 if rate == 8000 else 0.05  # 8 kHz audio has nothing above 4 kHz
    np.testing.assert_allclose(values(events), values(reference), atol=tolerance)


def test_silence_dc_clipping_and_nan(bundle, clip) -> None:
    x, rate = clip
    silent = stream(bundle, np.zeros(3 * 16000, np.float32), 16000)
    assert silent and not any(e.voiced for e in silent) and all(e.values == {} for e in silent)
    x16 = resample(x.astype(np.float64), rate, 16000).astype(np.float32)
    base = values(stream(bundle, x16, 16000))
    np.testing.assert_allclose(values(stream(bundle, x16 + 0.3, 16000)), base, atol=0.03)
    clipped = values(stream(bundle, np.clip(x16 * 20, -1, 1), 16000))
    assert np.all(np.isfinite(clipped)) and np.all((clipped >= 0) & (clipped <= 1))
    broken = x16.copy()
    broken[1000:1010] = np.nan
    pipe = SpeechPipeline(bundle)
    events = pipe.process_block(broken) + pipe.flush()
    assert pipe.nonfinite_replaced == 10 and np.all(np.isfinite(values(events)))
    # int16 PCM is scaled like float input. Clip first: resampling overshoots 1.0 a little and a
    # plain astype(int16) would wrap those samples into full-scale clicks.
    pcm = (np.clip(x16, -1.0, 32767 / 32768) * 32768).astype(np.int16)
    from_float = values(stream(bundle, x16, 16000, precision="fp32"))
    np.testing.assert_allclose(
        values(stream(bundle, pcm, 16000, precision="fp32")), from_float, atol=2e-3
    )


def test_bad_blocks_are_refused_clearly(bundle) -> None:
    from edge.errors import InputError

    pipe = SpeechPipeline(bundle)
    with pytest.raises(InputError, match="mono"):
        pipe.process_block(np.zeros((160, 2), np.float32))
    with pytest.raises(InputError, match="dtype int32"):
        pipe.process_block(np.zeros(160, np.int32))
    assert pipe.process_block(np.zeros(0, np.float32)) == []


def test_short_input(bundle, clip) -> None:
    x, rate = clip
    x16 = resample(x.astype(np.float64), rate, 16000).astype(np.float32)
    assert stream(bundle, x16[:1600], 16000) == []  # 0.1 s: too short for an estimate
    (event,) = stream(bundle, x16[16000:24000], 16000)  # 0.5 s: one estimate at the end
    assert event.voiced and event.end_s == pytest.approx(0.5, abs=0.05)


def test_run_cli_json_plot_stereo_and_errors(tmp_path: Path, capsys) -> None:
    x, rate = read_wav(sample_clip()).mono(), 22050
    sf.write(tmp_path / "stereo.wav", np.stack([x, 0.5 * x], axis=1), rate)
    assert (
        main(
            [
                "run",
                "speech",
                str(tmp_path / "stereo.wav"),
                "--json",
                "--plot",
                str(tmp_path / "p.png"),
            ]
        )
        == 0
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(events) == 11 and all(set(ADV) <= set(e) for e in events)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["run", "speech", str(sample_clip())]) == 0
    assert "arousal" in capsys.readouterr().out
    (tmp_path / "bad.wav").write_text("not audio")
    assert main(["run", "speech", str(tmp_path / "bad.wav")]) == 2
    assert "not readable audio" in capsys.readouterr().err
    sf.write(tmp_path / "tiny.wav", x[:2205], rate)
    assert main(["run", "speech", str(tmp_path / "tiny.wav")]) == 0
    assert "too short" in capsys.readouterr().out
