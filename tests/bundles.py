"""Builders of small real bundles for tests: dense networks in ONNX and TFLite, fp32 and int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.runtime import Bundle, write_bundle
from quant.reference_models import (
    DenseNet,
    dense_manifest,
    dense_net,
    io_quantization,
    tensor_spec,
    to_onnx,
    to_tflite,
)

PROVENANCE = {
    "teacher": "none: random weights for tests",
    "data": "none",
    "date": "2026-11-21",
    "source_revision": "tests",
    "licence": "Apache-2.0",
}


def dense_bundle(
    out: Path,
    sizes: tuple[int, ...] = (16, 32, 3),
    formats: tuple[str, ...] = ("onnx", "tflite"),
    int8: bool = True,
    modality: str = "speech",
    as_zip: bool = False,
    seed: int = 0,
) -> tuple[Bundle, DenseNet, np.ndarray]:
    """A regression bundle of a dense net; returns it, the net and its calibration inputs."""
    net = dense_net(list(sizes), seed=seed)
    calib = np.random.default_rng(seed + 1).standard_normal((256, sizes[0])).astype(np.float32)
    n_in, n_out = sizes[0], sizes[-1]
    files, models = {}, []
    if "onnx" in formats:
        files["model.onnx"] = to_onnx(net)
        models.append(
            {
                "file": "model.onnx",
                "format": "onnx",
                "precision": "fp32",
                "inputs": [tensor_spec("features", [None, n_in])],
                "outputs": [tensor_spec("scores", [None, n_out])],
            }
        )
    if "tflite" in formats:
        files["model.tflite"] = to_tflite(net)
        models.append(
            {
                "file": "model.tflite",
                "format": "tflite",
                "precision": "fp32",
                "inputs": [tensor_spec("features", [None, n_in])],
                "outputs": [tensor_spec("scores", [None, n_out])],
            }
        )
    if int8:
        q_in, q_out = io_quantization(net, calib)
        int8_specs = {
            "inputs": [tensor_spec("features", [None, n_in], "int8", q_in)],
            "outputs": [tensor_spec("scores", [None, n_out], "int8", q_out)],
        }
        if "onnx" in formats:
            files["model_int8.onnx"] = to_onnx(net, int8_io=(q_in, q_out))
            models.append(
                {"file": "model_int8.onnx", "format": "onnx", "precision": "int8", **int8_specs}
            )
        if "tflite" in formats:
            files["model_int8.tflite"] = to_tflite(net, calibration=calib)
            models.append(
                {"file": "model_int8.tflite", "format": "tflite", "precision": "int8", **int8_specs}
            )
    tolerance = {"fp32": 1e-4, "int8": 0.1}
    manifest = dense_manifest("dense-test", net, models, PROVENANCE, tolerance, modality=modality)
    bundle = write_bundle(out, manifest, files, as_zip=as_zip)
    return bundle, net, calib
