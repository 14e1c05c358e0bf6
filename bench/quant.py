"""Export benchmark: size, drift and latency of each format of a trained test student.

The student is `distill.synthetic.regression_student` (tiny_conv, 48 channels, trained for 200
steps on a synthetic regression task), exported by `quant.build.build_bundle` exactly as
`affect-edge export` does. Drift is measured on held-out inputs against float torch; latency
is the median of single-example `Engine.run` calls, all four models taking turns, one thread.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench import report
from bench.timing import fmt_time, interleaved, machine


def main(quick: bool = False) -> None:
    from distill.synthetic import features, regression_student
    from edge.runtime.engines import ENGINES
    from quant.build import build_bundle

    ckpt, x = regression_student()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt.save(Path(tmp) / "student.pt")
        np.save(Path(tmp) / "calibration.npy", x[:200])
        t0 = time.perf_counter()
        bundle, rep = build_bundle(
            Path(tmp) / "student.pt", Path(tmp) / "calibration.npy", Path(tmp) / "bundle"
        )
        build_s = time.perf_counter() - t0
        models = bundle.manifest.models
        engines = {m.file: ENGINES[m.format](bundle, m) for m in models}
        example = features(1, 5)
        for e in engines.values():
            e.warmup()
        timed = interleaved(
            {f: (lambda e=e: e.run(example)) for f, e in engines.items()},
            number=100,
            repeat=5 if quick else 20,
        )
    fp32_bytes = {m.format: m.size_bytes for m in models if m.precision == "fp32"}
    rows, data = [], []
    for m in models:
        fig = rep["verification"][m.file]
        t = timed[m.file]["median_s"]
        rows.append(
            [
                m.file,
                f"{m.format}/{m.precision}",
                f"{m.size_bytes:,}",
                f"{m.size_bytes / fp32_bytes[m.format]:.2f}",
                f"{fig['max_abs_error']:.2g}",
                f"{fig['mean_abs_error']:.2g}",
                f"{fig['min_ccc']:.4f}",
                fmt_time(t),
                engines[m.file].runtime,
            ]
        )
        data.append({"file": m.file, "bytes": m.size_bytes, "latency_s": t, **fig})
    notes = [
        f"Student: {bundle.manifest.params:,} parameters, {bundle.manifest.macs:,} MACs per inference, "
        f"input {ckpt.input_shape}; build (export both formats, calibrate on 150 examples, verify on 50) "
        f"took {build_s:.1f} s.",
        "Drift: against the float torch model on 50 held-out examples; CCC is the smallest over the three outputs.",
        "ONNX int8: static QDQ, per-channel int8 weights, int8 activations, float I/O (onnxruntime "
        "`quantize_static`). TFLite int8: full-integer through litert-torch's PT2E quantiser, int8 I/O.",
        f"Engine tolerance written to the manifest: {rep['tolerance']}.",
    ]
    what = "One thread per engine; single-example calls through `Engine.run` (our checks and int8 I/O included)."
    path = report.write_table(
        "quant",
        "Export: size, drift and latency per format (synthetic test student)",
        "make bench",
        machine(),
        what,
        [
            "file",
            "engine",
            "bytes",
            "vs fp32",
            "max abs error",
            "mean abs error",
            "min CCC vs float",
            "p50 latency",
            "runtime",
        ],
        rows,
        {"rows": data, "build_s": build_s},
        notes,
    )
    print(path.read_text())
