"""`models verify` checks every model against the float model on the bundle's reference examples,
within tolerances tight enough to catch real faults (quant/reference.py states the rule)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edge.runtime import load_bundle, write_bundle
from edge.runtime.registry import default_bundle
from edge.runtime.verify import verify_bundle
from tests.bundles import dense_bundle

BIN = Path(sys.executable).parent / "affect-edge"


def verify_cli(path: Path) -> tuple[int, dict]:
    done = subprocess.run(
        [str(BIN), "models", "verify", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, json.loads(done.stdout)


def with_model(tmp_path: Path, file: str, blob: bytes) -> Path:
    """A copy of the default bundle with one model file replaced (and its checksum updated, as a
    build that went wrong would write it)."""
    bundle = load_bundle(default_bundle("speech"))
    m = bundle.manifest
    files = {f.file: bundle.model_bytes(f) for f in m.models}
    files[file] = blob
    ref = m.reference
    files[ref.file] = (default_bundle("speech") / ref.file).read_bytes()
    manifest = m.to_dict()
    out = tmp_path / "faulty"
    write_bundle(out, manifest, files)
    return out


def test_the_shipped_bundle_verifies_against_its_reference_examples() -> None:
    code, report = verify_cli(default_bundle("speech"))
    assert code == 0 and report["ok"] and report["against"] == "reference examples"
    assert report["examples"] == 16
    m = load_bundle(default_bundle("speech")).manifest
    for r in report["models"]:
        assert (
            r["status"] == "ok"
            and r["max_abs"] <= r["tolerance"]
            and r["mean_abs"] <= r["mean_tolerance"]
        )
    # The rule: the largest difference measured per precision plus two output steps (1/256).
    measured = m.reference.measured
    int8_max = max(v["max_abs"] for v in measured.values() if v["precision"] == "int8")
    assert m.tolerance["int8"] == pytest.approx(int8_max + 2 / 256)
    assert m.tolerance["int8"] < 0.05  # it was 0.188: a fifth of the output range


def test_a_conv_layer_five_percent_off_is_caught(tmp_path: Path) -> None:
    bundle = load_bundle(default_bundle("speech"))
    model = onnx.load_from_string(bundle.model_bytes(bundle.manifest.model("onnx", "fp32")))
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.ndim == 4 and w.shape[0] > 8:
            init.CopyFrom(numpy_helper.from_array((w * 1.05).astype(w.dtype), init.name))
            break
    code, report = verify_cli(with_model(tmp_path, "model_fp32.onnx", model.SerializeToString()))
    assert code == 2 and not report["ok"]
    bad = {r["file"]: r for r in report["models"]}["model_fp32.onnx"]
    assert bad["status"] == "outside tolerance" and bad["max_abs"] > 5 * bad["tolerance"]


def test_an_int8_model_calibrated_on_the_wrong_data_is_caught(tmp_path: Path) -> None:
    from quant.quantize_onnx import quantize_onnx

    bundle = load_bundle(default_bundle("speech"))
    m = bundle.manifest
    # A pipeline mistake: int8 ranges taken from inputs unlike the device's (here, unit noise:
    # a third of the range of speech-adv v4's windows, which run from about -19 to +10; noise
    # three times as wide covers that range, and v4's int8 drifts by only 0.026 with it).
    wrong = (
        np.random.default_rng(0)
        .standard_normal((200, *m.front_end.input_shape()))
        .astype(np.float32)
    )
    careless = quantize_onnx(bundle.model_bytes(m.model("onnx", "fp32")), wrong)
    code, report = verify_cli(with_model(tmp_path, "model_int8.onnx", careless))
    bad = {r["file"]: r for r in report["models"]}["model_int8.onnx"]
    assert code == 2 and bad["status"] == "outside tolerance"
    assert bad["max_abs"] > 3 * bad["tolerance"]


def test_a_corrupt_reference_file_is_refused_at_load(tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(default_bundle("speech"), copy)
    data = bytearray((copy / "reference.npz").read_bytes())
    data[100] ^= 1
    (copy / "reference.npz").write_bytes(bytes(data))
    from edge.errors import BundleError

    with pytest.raises(BundleError, match=r"reference\.npz does not match the size and sha256"):
        load_bundle(copy)


def test_bundles_without_reference_examples_fall_back_to_engines_against_each_other(
    tmp_path,
) -> None:
    bundle, _, _ = dense_bundle(tmp_path / "dense")
    report = verify_bundle(bundle)
    assert report["ok"] and report["against"].startswith("one random input")
    assert {c["a"] for c in report["comparisons"]} == {"model.onnx", "model_int8.onnx"}
    assert np.isfinite([c["max_abs_diff"] for c in report["comparisons"]]).all()


def test_models_verify_without_litert_judges_the_onnx_models_and_says_what_it_skipped() -> None:
    # The real entry point with LiteRT (and tflite-runtime) unimportable, as on a device
    # installed without the litert extra: the TFLite models are not built, in one line.
    root = Path(__file__).resolve().parents[1]
    blocked = "ai_edge_litert,tflite_runtime"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.without_extras",
            blocked,
            "models",
            "verify",
            "speech-adv",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    device = report["int8_on_device_inputs"]
    assert [r["file"] for r in device["models"]] == ["model_int8.onnx"]
    assert device["models"][0]["ok"] and device["models"][0]["against"] == "model_fp32.onnx"
    assert {r["file"] for r in device["skipped"]} == {"model_fp32.tflite", "model_int8.tflite"}
    assert all(r["reason"].startswith("LiteRT not installed") for r in device["skipped"])
    assert report["ok"]
