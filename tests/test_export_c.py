"""`affect-edge export-c`: the C99 front ends against the Python ones, the model array, the arena
estimate and the command line.

Tolerances, stated once. The single-precision build (what a Cortex-M FPU runs): log-mel bands
within 80 dB of their frame's loudest band within 0.01 natural-log units (0.04 dB; 0.004 seen),
quieter bands within 0.1 (a float FFT's rounding is relative to the frame's whole energy: 0.057
seen on a band 93 dB under a full-scale tone); normalised speech windows the same, twice that on
loud bands, 1e-3 on average; EEG windows
(in [-1, 1]) within 1e-4. The double-precision build (-DAE_REAL_DOUBLE) within 1e-5 everywhere
(it computes what the Cython kernels compute, in their order). The int8 model inputs differ by at
most one step, in at most 1% of values (a value at a rounding tie).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edge.cli.main import main
from edge.dsp import Resampler
from edge.dsp.logmel import normalise_windows
from edge.frontends.eeg import EegFrontEnd
from edge.frontends.speech import features
from edge.runtime import load_bundle
from edge.runtime.registry import find_bundle
from firmware_bridge.export_c import C_DIR, arena_estimate, export_c
from tests.cbuild import SANITIZE, build_c, needs_gcc

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "tests" / "c" / "frontend_harness.c"
CLIP = ROOT / "edge" / "data" / "samples" / "speech_en.wav"


def build(out: Path, unit: str, exe: Path, *flags: str) -> Path:
    return build_c(exe, [out / "ae_dsp.c", out / unit, out / "ae_config.c", HARNESS], out, *flags)


def quantise(x: np.ndarray, q) -> np.ndarray:
    return np.clip(np.round(x / q.scale) + q.zero_point, -128, 127).astype(np.int16)


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    out = tmp_path_factory.mktemp("speech")
    done = export_c(find_bundle("speech-adv"), out)
    return load_bundle(find_bundle("speech-adv")), out, done


@pytest.fixture(scope="module")
def speech_other_norm(speech, tmp_path_factory):
    """The speech bundle with the other window normalisation in its manifest, exported."""
    bundle, _, _ = speech
    other = "loudest" if bundle.manifest.front_end.window_norm == "mean" else "mean"
    copy = tmp_path_factory.mktemp("speech-norm") / "speech-adv"
    shutil.copytree(find_bundle("speech-adv"), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["front_end"]["window_norm"] = other
    (copy / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path_factory.mktemp("speech-other")
    done = export_c(copy, out)
    return load_bundle(copy), out, done


@pytest.fixture(scope="module")
def eeg(tmp_path_factory):
    out = tmp_path_factory.mktemp("eeg")
    done = export_c(find_bundle("eeg-valence"), out)
    return load_bundle(find_bundle("eeg-valence")), out, done


def speech_signal() -> np.ndarray:
    """The shipped clip at 16 kHz, then 2 s of quiet noise and a loud 1 kHz tone (int16)."""
    x, rate = sf.read(CLIP, dtype="float32")
    x = Resampler(rate, 16000).process(x[None] if x.ndim == 1 else x.T[:1])[0]
    rng = np.random.default_rng(7)
    tail = np.concatenate(
        [rng.normal(0, 0.01, 32000), 0.9 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 16000)]
    )
    return np.clip(np.round(np.concatenate([x, tail]) * 32767), -32768, 32767).astype(np.int16)


def eeg_signal(channels: int, rate: int, seconds: int) -> np.ndarray:
    """Consumer-headset-like µV: a 4,000 µV pedestal, drift, alpha, mains, a blink (float32)."""
    rng = np.random.default_rng(3)
    n = rate * seconds
    t = np.arange(n) / rate
    white = rng.normal(0, 1, (n, channels))
    drift = np.cumsum(white, axis=0) * 0.5
    x = 4000 + rng.normal(0, 300, channels) + drift + 5 * white
    x += 10 * np.sin(2 * np.pi * 10 * t)[:, None] + 20 * np.sin(2 * np.pi * 50 * t)[:, None]
    x[rate * 20 : rate * 20 + 30, :3] += 150
    return x.astype(np.float32)


def test_the_export_holds_the_model_aligned_and_the_front_end(speech, tmp_path) -> None:
    bundle, out, done = speech
    assert done.files == sorted(
        [
            "README.md",
            "ae_config.c",
            "ae_config.h",
            "ae_dsp.c",
            "ae_dsp.h",
            "ae_logmel.c",
            "ae_logmel.h",
            "ae_model.c",
            "ae_model.h",
            "export.json",
        ]
    )
    model = next(m for m in bundle.manifest.models if m.file == "model_int8.tflite")
    data = bundle.model_bytes(model)
    # A program that links the array writes it back and says whether it is 16-byte aligned.
    probe = tmp_path / "dump.c"
    probe.write_text(
        '#include <stdint.h>\n#include <stdio.h>\n#include "ae_model.h"\n'
        'int main(int c, char **v) { FILE *f = fopen(v[1], "wb"); (void)c;\n'
        "  fwrite(ae_model_data, 1, AE_MODEL_SIZE, f); fclose(f);\n"
        '  printf("%d %s\\n", (int)((uintptr_t)ae_model_data % 16u), AE_MODEL_SHA256); return 0; }\n'
    )
    exe = build_c(tmp_path / "dump", [probe, out / "ae_model.c"], out)
    got = subprocess.run([str(exe), str(tmp_path / "model.bin")], capture_output=True, text=True)
    assert (tmp_path / "model.bin").read_bytes() == data
    assert got.stdout.split() == ["0", model.sha256]
    header = (out / "ae_config.h").read_text()
    q = model.inputs[0].quantization
    assert f"#define AE_MODEL_INPUT_ZERO_POINT ({q.zero_point})" in header
    assert "#define AE_LM_N_MELS 40" in header and "#define AE_LM_UPDATE_FRAMES 50" in header
    assert "ae_logmel_windows_due" in (out / "README.md").read_text()
    report = json.loads((out / "export.json").read_text())
    assert report["model_bytes"] == len(data) and report["model_sha256"] == model.sha256


def test_the_c_sources_use_no_heap_and_only_the_allowed_headers() -> None:
    allowed = {"stdint.h", "stddef.h", "string.h", "math.h", "ae_config.h", "ae_dsp.h"}
    for name in ("ae_dsp", "ae_logmel", "ae_eeg"):
        for ext in (".h", ".c"):
            text = (C_DIR / f"{name}{ext}").read_text()
            includes = set(re.findall(r'#include [<"]([^>"]+)[>"]', text)) - {f"{name}.h"}
            assert includes <= allowed, (name, includes)
            assert not re.search(r"\b(malloc|calloc|free|printf)\b", text), name
    # Only the log-mel needs the C library's logarithm.
    assert "#include <math.h>" not in (C_DIR / "ae_eeg.c").read_text()


@needs_gcc
@pytest.mark.parametrize(
    "precision,loud_tol,quiet_tol,window_tol,norm",
    [
        ("float", 1e-2, 0.1, 1e-3, "shipped"),
        ("double", 1e-5, 1e-5, 1e-5, "shipped"),
        ("float", 1e-2, 0.1, 1e-3, "other"),
    ],
)
def test_the_c_log_mel_matches_the_python_front_end(
    request, tmp_path, precision, loud_tol, quiet_tol, window_tol, norm
) -> None:
    bundle, out, _ = request.getfixturevalue("speech" if norm == "shipped" else "speech_other_norm")
    spec = bundle.manifest.front_end
    flags = SANITIZE if precision == "float" else ["-O2", "-DAE_REAL_DOUBLE"]
    exe = build(out, "ae_logmel.c", tmp_path / "harness", *flags)
    x = speech_signal()
    x.tofile(tmp_path / "in.i16")
    for block in (37, 160, 4096):  # any block size gives the same frames
        run = subprocess.run(
            [str(exe), str(tmp_path / "in.i16"), str(block), str(tmp_path / "out.bin")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        reference = features(x, 16000, spec)
        raw = np.fromfile(tmp_path / "out.bin", dtype=np.uint8)
        frames = raw[: reference.nbytes].view(np.float32).reshape(reference.shape)
        assert len(reference) > 400
        error = np.abs(frames - reference)
        loud = reference.max(axis=1, keepdims=True) - reference <= 80 / (10 / np.log(10))
        assert error[loud].max() <= loud_tol and error.max() <= quiet_tol
    # The windows: due every update once full, normalised, then quantised for the model.
    q = next(m for m in bundle.manifest.models if m.file == "model_int8.tflite").inputs[0]
    size = spec.window_frames * spec.n_mels
    rest = raw[reference.nbytes :].reshape(-1, size * 5)
    due = range(spec.window_frames, len(reference) + 1, 50)
    assert len(rest) == len(due) > 5
    for record, end in zip(rest, due, strict=True):
        window = record[: size * 4].view(np.float32).reshape(spec.window_frames, spec.n_mels)
        frames = reference[end - spec.window_frames : end]
        wanted = normalise_windows(frames, spec.window_norm)
        error = np.abs(window - wanted)
        loud = frames.max(axis=1, keepdims=True) - frames <= 80 / (10 / np.log(10))
        # A window carries its frames' errors, and their mean's.
        assert error[loud].max() <= 2 * loud_tol and error.max() <= quiet_tol
        assert error.mean() <= window_tol
        steps = np.abs(record[size * 4 :].view(np.int8) - quantise(wanted, q.quantization).ravel())
        assert steps.max() <= 1 and (steps > 0).mean() <= 0.01


@needs_gcc
@pytest.mark.parametrize("precision,tol", [("float", 1e-4), ("double", 1e-5)])
def test_the_c_eeg_front_end_matches_the_python_one(eeg, tmp_path, precision, tol) -> None:
    bundle, out, _ = eeg
    spec = bundle.manifest.front_end
    flags = SANITIZE if precision == "float" else ["-O2", "-DAE_REAL_DOUBLE"]
    exe = build(out, "ae_eeg.c", tmp_path / "harness", *flags)
    x = eeg_signal(len(spec.channels), spec.rate_hz, 40)
    x.tofile(tmp_path / "in.f32")
    run = subprocess.run(
        [str(exe), str(tmp_path / "in.f32"), str(tmp_path / "out.bin")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    front = EegFrontEnd(spec, spec.rate_hz, spec.channels, mains_hz=50)
    reference = [w[0, 0] for _, w, _ in front.feed(x.T.astype(np.float64))]
    size = spec.window_samples * len(spec.channels)
    records = np.fromfile(tmp_path / "out.bin", dtype=np.uint8).reshape(-1, size * 5)
    # 40 s: 2 s settling, 10 s calibration, then a window a second once the first is full.
    assert len(records) == len(reference) == 28
    q = next(m for m in bundle.manifest.models if m.file == "model_int8.tflite").inputs[0]
    for record, wanted in zip(records, reference, strict=True):
        window = record[: size * 4].view(np.float32).reshape(wanted.shape)
        assert np.abs(window).max() == pytest.approx(1.0, abs=1e-6)
        assert np.abs(window - wanted).max() <= tol
        steps = np.abs(record[size * 4 :].view(np.int8) - quantise(wanted, q.quantization).ravel())
        assert steps.max() <= 1 and (steps > 0).mean() <= 0.01


STUDENT_HARNESS = ROOT / "tests" / "c" / "eeg_student_harness.c"


def c_student_levels(out: Path, x: np.ndarray, tmp: Path, quality: bool = False):
    """The exported tree (front end + HiSTN student in C) built strict with ASan/UBSan, run on
    `x` (samples, electrodes) µV at the model's rate: each window's scores; with `quality`,
    also each window's ae_eeg_quality record (flag bytes per electrode, max_uv, mains_uv)."""
    sources = [out / n for n in ("ae_dsp.c", "ae_eeg.c", "ae_histn.c", "ae_config.c")]
    exe = build_c(tmp / "student", [*sources, STUDENT_HARNESS], out, *SANITIZE)
    x.astype(np.float32).tofile(tmp / "in.f32")
    extra = [str(tmp / "quality.bin")] if quality else []
    run = subprocess.run(
        [str(exe), str(tmp / "in.f32"), str(tmp / "out.f32"), *extra],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    scores = np.fromfile(tmp / "out.f32", dtype=np.float32)
    if not quality:
        return scores
    n = x.shape[1]
    record = np.dtype([("flags", np.uint8, n), ("figures", "<f4", 2)])
    return scores, np.fromfile(tmp / "quality.bin", dtype=record)


def python_windows(bundle, x: np.ndarray) -> list:
    """The Python front end on the same samples: (model input, quality) per window."""
    spec = bundle.manifest.front_end
    front = EegFrontEnd(spec, spec.rate_hz, spec.channels, mains_hz=50)
    return [(w, q) for _, w, q in front.feed(x.T.astype(np.float64))]


def flag_bits(quality: dict, channels) -> np.ndarray:
    """A Python window's quality dict as ae_eeg_quality's byte per electrode."""
    bits = dict(disconnected=1, flat=2, railed=4, line_noise=8, blink=16, muscle=32, movement=64)
    out = np.zeros(len(channels), np.uint8)
    for name, bit in bits.items():
        for c in quality[name]:
            out[channels.index(c)] |= bit
    return out


def python_scores(bundle, x: np.ndarray) -> np.ndarray:
    """Python on the same samples: the EEG front end, then the student on the native engine."""
    from edge.runtime.engines import open_engine

    spec = bundle.manifest.front_end
    front = EegFrontEnd(spec, spec.rate_hz, spec.channels, mains_hz=50)
    engine = open_engine(bundle, engine="native")
    windows = [w for _, w, _ in front.feed(x.T.astype(np.float64))]
    return np.stack([engine.run(w)["scores"][0] for w in windows])


def expected_level(scores: np.ndarray) -> np.ndarray:
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return p @ np.arange(1, scores.shape[-1] + 1)


@needs_gcc
def test_the_exported_eeg_student_scores_every_window_as_python_does(eeg, tmp_path) -> None:
    bundle, out, done = eeg
    assert {"ae_histn.c", "ae_histn.h"} <= set(done.files)
    assert (out / "ae_histn.c").read_bytes() == (ROOT / "edge/dsp/c/ae_histn.c").read_bytes()
    spec = bundle.manifest.front_end
    x = eeg_signal(len(spec.channels), spec.rate_hz, 40)
    want = python_scores(bundle, x)
    got, quality = c_student_levels(out, x, tmp_path, quality=True)
    got = got.reshape(-1, want.shape[1])
    assert len(got) == len(want) == len(quality) == 28
    assert np.abs(got - want).max() <= 1e-3
    assert np.abs(expected_level(got) - expected_level(want)).max() <= 1e-3
    channels = list(spec.channels)
    flags = [flag_bits(q, channels) for _, q in python_windows(bundle, x)]
    np.testing.assert_array_equal(quality["flags"], np.stack(flags))


@needs_gcc
def test_the_exported_cyton_tree_on_the_openbci_recording(shared_dir, tmp_path) -> None:
    """The real OpenBCI recording (250 Hz, resampled to the model's 128 Hz once, in Python):
    the exported C tree and Python give the same level on every window."""
    from devices.eeg import open_eeg_file

    path = shared_dir / "data" / "eeg-openbci" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    bundle = load_bundle(find_bundle("eeg-valence-cyton8"))
    spec = bundle.manifest.front_end
    with open_eeg_file(path, channels=tuple(spec.channels)) as src:
        raw = np.concatenate([f.data for f in src], axis=1)
        rate = src.rate_hz
    resampler = Resampler(int(rate), spec.rate_hz, len(spec.channels))
    x = np.concatenate([resampler.process(raw), resampler.flush()], axis=1).T
    out = tmp_path / "export"
    export_c(find_bundle("eeg-valence-cyton8"), out)
    want = python_scores(bundle, x)
    got, quality = c_student_levels(out, x, tmp_path, quality=True)
    got = got.reshape(-1, want.shape[1])
    assert len(got) == len(want) == len(quality) >= 70
    assert np.abs(expected_level(got) - expected_level(want)).max() <= 1e-3
    # Every window's flags, electrode by electrode, as Python's (blinks and jaw clenches
    # included), and its figures (Python rounds them to 0.1 µV; the C filters run in float).
    channels = list(spec.channels)
    windows = python_windows(bundle, x)
    wanted = np.stack([flag_bits(q, channels) for _, q in windows])
    np.testing.assert_array_equal(quality["flags"], wanted)
    assert (wanted & 16).any() and (wanted & 32).any() and not wanted.all()
    figures = np.array([[q["max_uv"], q["mains_uv"]] for _, q in windows])
    assert np.all(np.abs(quality["figures"] - figures) <= 0.05 + 1e-3 * figures)


def test_the_arena_estimate_lies_between_the_busiest_operator_and_all_activations(speech) -> None:
    from ai_edge_litert.interpreter import Interpreter

    bundle, _, done = speech
    model = next(m for m in bundle.manifest.models if m.file == "model_int8.tflite")
    data = bundle.model_bytes(model)
    interp = Interpreter(model_content=data)
    details = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    activation = {int(o) for op in ops for o in op["outputs"]} | {
        t["index"] for t in interp.get_input_details()
    }

    def size(t: int) -> int:
        d = details[t]
        return -(-int(np.prod(d["shape"])) * np.dtype(d["dtype"]).itemsize // 16) * 16

    busiest = max(
        sum(size(int(t)) for t in {*op["inputs"], *op["outputs"]} if int(t) in activation)
        for op in ops
    )
    arena = arena_estimate(data)
    assert busiest <= arena["activations_bytes"] <= sum(size(t) for t in activation)
    assert arena["activations_bytes"] < sum(size(t) for t in activation)  # it does reuse memory
    assert done.report["arena"] == arena


def test_the_checks_and_sizes_stand_against_the_hearing_aid_profile(speech, eeg) -> None:
    for _, _, done in (speech, eeg):
        r = done.report
        assert r["profile"] == "hearing-aid-coprocessor"
        names = {c["budget"] for c in r["checks"]}
        assert {"memory_bytes", "latency_p99_ms", "cpu_share"} <= names
        host = r["code_host"]
        assert host is not None and 500 < host["code_bytes"] < 20_000
        if shutil.which("arm-none-eabi-gcc"):
            assert r["code_arm"]["flags"].endswith("-mcpu=cortex-m55 -mthumb -mfloat-abi=hard -Os")
            assert {"ram_bytes", "footprint_bytes"} <= names
    # The speech state: three n_fft buffers, the power spectrum and the ring of frames (float32).
    assert speech[2].report["code_host"]["state_bytes"] >= 4 * (3 * 512 + 257 + 100 * 40)


def test_export_c_on_the_command_line(tmp_path, capsys) -> None:
    assert main(["export-c", "eeg-valence", "-o", str(tmp_path / "out"), "--mains", "60"]) == 0
    text = capsys.readouterr().out
    assert "wrote 12 files for eeg-valence" in text and "against profile hearing-aid" in text
    header = (tmp_path / "out" / "ae_config.h").read_text()
    assert "60 Hz notch" in header and "#define AE_EEG_CHANNELS 14" in header
    assert main(["export-c", "face-expr", "-o", str(tmp_path / "face")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "front end 'image'" in err
