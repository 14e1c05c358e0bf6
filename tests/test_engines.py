"""ONNX Runtime and LiteRT engines on real models: agreement, int8 I/O, batching, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from edge.errors import BundleError, InputError
from edge.runtime import load_bundle, write_bundle
from edge.runtime.engines import LiteRtEngine, OrtEngine, choose_format, open_engine
from quant.reference_models import tensor_spec
from tests.bundles import PROVENANCE, dense_bundle
from tests.streams import error_in_thread

pytestmark = pytest.mark.device


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    return dense_bundle(tmp_path_factory.mktemp("b") / "dense", sizes=(16, 32, 32, 3))


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_fp32_engines_match_the_float64_reference(dense, fmt) -> None:
    bundle, net, calib = dense
    engine = open_engine(bundle, engine=fmt, precision="fp32")
    x = calib[:1]
    y = engine.run(x)["scores"]
    assert y.dtype == np.float32 and y.shape == (1, 3)
    np.testing.assert_allclose(y, net.forward(x), atol=1e-5)


def test_onnx_and_litert_agree_within_the_manifest_tolerance(dense) -> None:
    bundle, _, calib = dense
    for precision in ("fp32", "int8"):
        tol = bundle.manifest.tolerance[precision]
        ort_e = open_engine(bundle, engine="onnx", precision=precision)
        lite = open_engine(bundle, engine="tflite", precision=precision)
        for row in calib[:20]:
            x = row[None, :]
            a, b = ort_e.run(x)["scores"], lite.run(x)["scores"]
            assert np.max(np.abs(a - b)) <= tol, precision


def test_int8_engines_quantise_inputs_and_dequantise_outputs(dense) -> None:
    bundle, net, calib = dense
    for fmt in ("onnx", "tflite"):
        engine = open_engine(bundle, engine=fmt, precision="int8")
        assert engine.inputs[0].dtype == "int8"
        y = engine.run(calib[:1])["scores"]
        assert y.dtype == np.float32
        ref = net.forward(calib[:1])
        # Quantisation error of a 3-layer int8 net: a few output steps.
        assert np.max(np.abs(y - ref)) < 6 * engine.outputs[0].quantization.scale, fmt


def test_int8_inputs_pass_through_untouched(dense) -> None:
    bundle, _, calib = dense
    engine = open_engine(bundle, engine="tflite", precision="int8")
    spec = engine.inputs[0]
    q = np.clip(
        np.rint(calib[:1] / spec.quantization.scale) + spec.quantization.zero_point, -128, 127
    )
    np.testing.assert_array_equal(
        engine.run(q.astype(np.int8))["scores"], engine.run(calib[:1])["scores"]
    )


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_batched_results_equal_single_results(dense, fmt) -> None:
    bundle, _, calib = dense
    engine = open_engine(bundle, engine=fmt, precision="fp32")
    batched = engine.run(calib[:8])["scores"]
    singles = np.concatenate([engine.run(calib[i : i + 1])["scores"] for i in range(8)])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_engine_choice_and_latency_record(dense) -> None:
    bundle, _, _ = dense
    assert choose_format(bundle) == "onnx"
    assert choose_format(bundle, preferred="tflite") == "tflite"
    engine = open_engine(bundle, preferred="tflite")
    assert isinstance(engine, LiteRtEngine) and engine.model.precision == "int8"
    engine.warmup(3)
    assert engine.latency.count == 0
    for _ in range(10):
        engine.run(engine.example_inputs())
    summary = engine.latency.summary()
    assert (
        summary["count"] == 10 and 0 < summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]
    )
    with pytest.raises(BundleError, match="unknown engine"):
        open_engine(bundle, engine="tensorrt")


def test_bundle_without_the_asked_format(tmp_path: Path) -> None:
    bundle, _, _ = dense_bundle(tmp_path / "b", formats=("onnx",), int8=False)
    assert isinstance(open_engine(bundle), OrtEngine)
    with pytest.raises(BundleError, match="has no tflite model"):
        open_engine(bundle, engine="tflite")
    with pytest.raises(BundleError, match="no onnx/int8 model"):
        open_engine(bundle, engine="onnx", precision="int8")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_wrong_inputs_at_run_time(dense, fmt) -> None:
    engine = open_engine(dense[0], engine=fmt, precision="fp32")
    with pytest.raises(InputError, match=r"shape \[1, 15\]; the model takes \['any', 16\]"):
        engine.run(np.zeros((1, 15), np.float32))
    with pytest.raises(InputError, match="shape"):
        engine.run(np.zeros(16, np.float32))
    with pytest.raises(InputError, match="not numeric"):
        engine.run(np.array([["a"] * 16]))
    with pytest.raises(InputError, match="takes 1 inputs, got 2"):
        engine.run([np.zeros((1, 16)), np.zeros((1, 16))])
    with pytest.raises(InputError, match=r"unknown inputs \['x'\]"):
        engine.run({"features": np.zeros((1, 16)), "x": np.zeros(1)})


def test_manifest_that_disagrees_with_the_model_file(tmp_path: Path) -> None:
    bundle, _, _ = dense_bundle(tmp_path / "b", int8=False)
    data = json.loads((tmp_path / "b" / "manifest.json").read_text())
    for m in data["models"]:
        m["inputs"][0]["shape"] = [None, 17]
    files = {m.file: bundle.model_bytes(m) for m in bundle.manifest.models}
    bad = write_bundle(tmp_path / "bad", data, files)
    for fmt in ("onnx", "tflite"):
        with pytest.raises(
            BundleError, match=r"input 'features' is declared as \[None, 17\] float32 but the model"
        ):
            open_engine(bad, engine=fmt)


def test_operator_the_runtime_cannot_run(tmp_path: Path) -> None:
    node = helper.make_node("FancyAffectOp", ["x"], ["y"], domain="com.example.affect")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example.affect", 1)],
    )
    model.ir_version = 8
    manifest = {
        "schema_version": 1,
        "name": "odd",
        "version": "0",
        "modality": "test",
        "task": {"kind": "regression", "outputs": ["a", "b", "c", "d"]},
        "front_end": {"kind": "none"},
        "models": [
            {
                "file": "m.onnx",
                "format": "onnx",
                "precision": "fp32",
                "inputs": [tensor_spec("x", [1, 4])],
                "outputs": [tensor_spec("y", [1, 4])],
            }
        ],
        "params": 0,
        "macs": 0,
        "provenance": PROVENANCE,
        "tolerance": {"fp32": 1e-5},
    }
    bundle = write_bundle(tmp_path / "odd", manifest, {"m.onnx": model.SerializeToString()})
    with pytest.raises(BundleError, match=r"cannot load this model.*FancyAffectOp"):
        open_engine(bundle)


def test_tflite_file_that_is_not_a_model(tmp_path: Path) -> None:
    manifest = {
        "schema_version": 1,
        "name": "junk",
        "version": "0",
        "modality": "test",
        "task": {"kind": "regression", "outputs": ["a"]},
        "front_end": {"kind": "none"},
        "models": [
            {
                "file": "m.tflite",
                "format": "tflite",
                "precision": "fp32",
                "inputs": [tensor_spec("x", [1, 4])],
                "outputs": [tensor_spec("y", [1, 1])],
            }
        ],
        "params": 0,
        "macs": 0,
        "provenance": PROVENANCE,
        "tolerance": {"fp32": 1e-5},
    }
    bundle = write_bundle(tmp_path / "junk", manifest, {"m.tflite": b"\x00" * 64})
    with pytest.raises(BundleError, match="cannot load this model"):
        open_engine(bundle)
    assert load_bundle(tmp_path / "junk").manifest.name == "junk"


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_outputs_belong_to_the_caller_and_shapes_may_change(dense, fmt, precision) -> None:
    bundle, _, calib = dense
    engine = open_engine(bundle, engine=fmt, precision=precision)
    first = engine.run(calib[:1])["scores"]
    kept = first.copy()
    second = engine.run(calib[1:2])["scores"]
    np.testing.assert_array_equal(first, kept)  # the second call did not write into the first
    assert not np.shares_memory(first, second)
    batch = engine.run(calib[:5])["scores"]  # a new shape rebinds; back to one row still works
    assert batch.shape == (5, 3)
    np.testing.assert_allclose(engine.run(calib[1:2])["scores"], second, atol=1e-6)
    strided = np.asfortranarray(calib[:5])[:, ::1]
    np.testing.assert_allclose(engine.run(strided)["scores"], batch, atol=1e-6)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_an_engine_used_from_two_threads_at_once_says_so(dense, fmt) -> None:
    bundle, _, calib = dense
    engine = open_engine(bundle, engine=fmt)
    engine._guard.acquire()  # a call is in flight on another thread
    error = error_in_thread(engine.run, calib[:1])
    engine._guard.release()
    assert isinstance(error, InputError) and "open one engine per thread" in str(error)
    assert engine.run(calib[:1])["scores"].shape == (1, 3)
