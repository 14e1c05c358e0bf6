"""Engine benchmark: per-call overhead and latency, ORT vs LiteRT, fp32 vs int8, tiny and ~70K params.

The models are dense reference networks (`quant.reference_models`) written with the same weights
to ONNX and TFLite. ORT int8 is a real static QDQ per-channel quantisation by onnxruntime's
`quantize_static` (float I/O); TFLite int8 is full-integer (int8 I/O). Each model runs through
our `Engine.run` and through the bare runtime call, in turns, so the wrapper's cost shows.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import fmt_time, interleaved, machine
from edge.runtime import write_bundle
from edge.runtime.engines import open_engine
from quant.quantize_onnx import quantize_onnx
from quant.reference_models import (
    dense_manifest,
    dense_net,
    io_quantization,
    tensor_spec,
    to_onnx,
    to_tflite,
)

MODELS = {"tiny": [16, 8, 3], "~70K": [128, 256, 128, 64, 8]}
PROVENANCE = {
    "teacher": "none: random weights (benchmark)",
    "data": "none",
    "date": "-",
    "source_revision": "bench",
    "licence": "Apache-2.0",
}


def build(sizes: list[int], out: Path):
    net = dense_net(sizes, seed=1)
    calib = np.random.default_rng(2).standard_normal((128, sizes[0])).astype(np.float32)
    q_in, q_out = io_quantization(net, calib)
    f32 = {
        "inputs": [tensor_spec("features", [None, sizes[0]])],
        "outputs": [tensor_spec("scores", [None, sizes[-1]])],
    }
    i8 = {
        "inputs": [tensor_spec("features", [None, sizes[0]], "int8", q_in)],
        "outputs": [tensor_spec("scores", [None, sizes[-1]], "int8", q_out)],
    }
    onnx_fp32 = to_onnx(net)
    files = {
        "fp32.onnx": onnx_fp32,
        "int8.onnx": quantize_onnx(onnx_fp32, calib),
        "fp32.tflite": to_tflite(net),
        "int8.tflite": to_tflite(net, calibration=calib),
    }
    models = [
        {"file": "fp32.onnx", "format": "onnx", "precision": "fp32", **f32},
        {"file": "int8.onnx", "format": "onnx", "precision": "int8", **f32},
        {"file": "fp32.tflite", "format": "tflite", "precision": "fp32", **f32},
        {"file": "int8.tflite", "format": "tflite", "precision": "int8", **i8},
    ]
    manifest = dense_manifest(
        f"bench-{len(sizes)}", net, models, PROVENANCE, {"fp32": 1e-4, "int8": 0.5}
    )
    return write_bundle(out, manifest, files), net, calib


def raw_call(engine, x: np.ndarray):
    """The bare runtime call for one input already in the model's dtype (int8 models get int8),
    without our checks and conversions: `session.run` / `set_tensor` + `invoke` + `get_tensor`."""
    prepared = [p.copy() for p in engine._prepare(x)]
    if engine.kind == "onnx":
        session, feeds = engine._session, dict(zip(engine._input_names, prepared, strict=True))
        return lambda: session.run(engine._output_names, feeds)
    interp, index, out_index = engine._interp, engine._in_index[0], engine._out_index[0]

    def call():
        interp.set_tensor(index, prepared[0])
        interp.invoke()
        return interp.get_tensor(out_index)

    return call


RSS_SNIPPET = """
import sys
from edge.runtime import load_bundle
from edge.runtime.engines import open_engine
from edge.runtime.memory import rss_bytes
before = rss_bytes()
e = open_engine(load_bundle(sys.argv[1]), engine=sys.argv[2], precision=sys.argv[3])
e.run(e.example_inputs())
print(before, rss_bytes())
"""


def rss_in_fresh_process(bundle_path: Path, fmt: str, precision: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", RSS_SNIPPET, str(bundle_path), fmt, precision],
        capture_output=True,
        text=True,
        check=True,
    )
    before, after = out.stdout.split()
    return int(before), int(after)


def main(quick: bool = False) -> None:
    repeat = 8 if quick else 30
    rows, data = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, sizes in MODELS.items():
            bundle, net, calib = build(sizes, Path(tmp) / label)
            x = calib[:1]
            engines = {
                f"{f}/{p}": open_engine(bundle, engine=f, precision=p)
                for f in ("onnx", "tflite")
                for p in ("fp32", "int8")
            }
            fns = {}
            for key, engine in engines.items():
                engine.warmup()
                fns[key] = lambda e=engine, x=x: e.run(x)
                fns[key + " raw"] = raw_call(engine, x)
            timed = interleaved(fns, number=200, repeat=repeat)
            base = timed["onnx/fp32"]["median_s"]
            for key, engine in engines.items():
                y = engine.run(calib[:32])["scores"]
                err = float(np.max(np.abs(y - net.forward(calib[:32]))))
                rss_before, rss_after = rss_in_fresh_process(bundle.path, *key.split("/"))
                t, raw = timed[key]["median_s"], timed[key + " raw"]["median_s"]
                rows.append(
                    [
                        label,
                        f"{net.params:,}",
                        key,
                        f"{engine.model.size_bytes:,}",
                        fmt_time(t),
                        fmt_time(raw),
                        f"{t / raw:.2f}x",
                        f"{base / t:.2f}x",
                        f"{err:.2g}",
                        f"{rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB",
                    ]
                )
                data.append(
                    {
                        "model": label,
                        "params": net.params,
                        "macs": net.macs,
                        "engine": key,
                        "bytes": engine.model.size_bytes,
                        "engine_run_s": t,
                        "raw_call_s": raw,
                        "max_abs_err_vs_float64": err,
                        "rss_before": rss_before,
                        "rss_after": rss_after,
                    }
                )
    notes = [
        "Each figure is the median over repeated batches of 200 single-row calls, all engines taking turns.",
        "'vs ORT fp32' = ORT fp32 `Engine.run` time / this row's time (above 1: faster).",
        "Error is the largest |difference| from the float64 reference over 32 rows.",
        "RSS is measured in a fresh Python process: after importing affect-edge, then after opening the "
        "engine and running once.",
        "ORT int8 is a QDQ model with float inputs and outputs. LiteRT int8 is full-integer, with int8 "
        "inputs and outputs: `Engine.run` takes and returns float, so it also quantises and "
        "dequantises (a compiled kernel) while the bare call is fed int8 and returns int8.",
        "`Engine.run`: checks on the first call of a shape, then a fast path; ORT through an IOBinding "
        "whose input buffer the input is copied (or quantised) into, which costs less than "
        "`session.run` converting the feeds; outputs copied out for the caller. Target: at most "
        "1.2x the bare call.",
        "The order of engines by latency depends on the CPU (another 2-core x86 machine ranked "
        "LiteRT int8 first): compare ratios within one run, not absolute times across machines.",
    ]
    what = "One thread per engine."
    path = report.write_table(
        "engines",
        "Inference engines: ORT vs LiteRT, fp32 vs int8",
        "make bench",
        machine(),
        what,
        [
            "model",
            "params",
            "engine",
            "file bytes",
            "`Engine.run` p50",
            "bare runtime call p50",
            "`Engine.run` / bare",
            "vs ORT fp32",
            "max error",
            "RSS",
        ],
        rows,
        {"rows": data},
        notes,
    )
    print(path.read_text())
