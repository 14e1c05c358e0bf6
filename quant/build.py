"""Checkpoint -> verified bundle: export, quantise, verify drift, check budgets, write atomically.

Every tensor spec in the manifest is read from the exported file itself (ONNX Runtime's and
LiteRT's view of its inputs and outputs), never assumed. Drift figures are measured on held-out
real features through the device engines and written into the manifest. If an int8 ONNX model
drifts too far, sensitive layers ("last", then "first" and "last") are kept in float when
`keep_float="auto"`. The bundle carries reference examples (held-out inputs and the float
model's outputs on them) and tolerances derived from them (`quant/reference.py`), which
`affect-edge models verify` checks every model against. The bundle appears at its path only once
all of this has succeeded.
"""

from __future__ import annotations

import logging
import platform
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from distill.checkpoint import Checkpoint
from distill.cost import count_macs, count_params
from distill.outputs import bundle_problem, check_output, staging_path, swap_in
from edge.runtime import Bundle, load_bundle, write_bundle
from edge.runtime.budget import check_load, enforce
from quant.calibrate import CalibrationData, load_calibration
from quant.errors import ExportError
from quant.reference import EXAMPLES as REFERENCE_EXAMPLES
from quant.reference import FILE as REFERENCE_FILE
from quant.reference import derive, input_grid, measure, pack, reference_section, to_npz
from quant.verify import acceptable, float_reference, verify_bundle

log = logging.getLogger(__name__)
Progress = Callable[[str, int], Callable[[], None]]
FORMATS = ("onnx", "tflite")
_KEEP_FLOAT_LADDER: tuple[tuple[str, ...], ...] = ((), ("last",), ("first", "last"))


@dataclass(frozen=True)
class ExportOptions:
    formats: tuple[str, ...] = FORMATS
    keep_float: Sequence[str] | str = "auto"
    heldout_fraction: float = 0.25
    min_ccc: float = 0.95
    min_top1: float = 0.95
    profile: str | None = None
    allow_over_budget: bool = False
    overwrite: bool = False
    name: str | None = None


def _specs(described: list[tuple]) -> list[dict]:
    """Manifest tensor entries from an engine's description of the model file's own tensors."""
    out = []
    for name, shape, dtype, quant in described:
        spec = {"name": name, "shape": list(shape), "dtype": dtype}
        if quant is not None:
            spec["quantization"] = {"scale": quant[0], "zero_point": quant[1]}
        out.append(spec)
    return out


def _onnx_specs(data: bytes) -> dict[str, list[dict]]:
    import onnxruntime as ort

    from edge.runtime.engines.ort import describe

    s = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return {
        "inputs": _specs(describe(s.get_inputs())),
        "outputs": _specs(describe(s.get_outputs())),
    }


def _tflite_specs(data: bytes) -> dict[str, list[dict]]:
    from edge.runtime.engines.litert import describe, interpreter_class

    it = interpreter_class()[0](model_content=data)
    return {
        "inputs": _specs(describe(it.get_input_details())),
        "outputs": _specs(describe(it.get_output_details())),
    }


def export_artifacts(
    ckpt: Checkpoint,
    module,
    data: CalibrationData,
    formats: Sequence[str],
    keep_float: Sequence[str],
    progress: Progress | None,
) -> dict[str, dict]:
    """file name -> {bytes, format, precision, specs} for every requested format, fp32 and int8."""
    from quant.export_onnx import export_onnx
    from quant.export_tflite import export_tflite, export_tflite_int8
    from quant.quantize_onnx import quantize_onnx

    example = ckpt.example_input()
    # A student may offer an equivalent form for devices (HiSTN folds its linear parts); the
    # files are then verified against the trained module itself (verify_bundle).
    if hasattr(module, "for_export"):
        module = module.for_export(example)
    out: dict[str, dict] = {}
    if "onnx" in formats:
        fp32 = export_onnx(module, example)
        tick = progress("calibrate ONNX int8", len(data.calibration)) if progress else None
        int8 = quantize_onnx(fp32, data.calibration, keep_float=keep_float, progress=tick)
        out["model_fp32.onnx"] = {"bytes": fp32, "format": "onnx", "precision": "fp32"}
        out["model_int8.onnx"] = {"bytes": int8, "format": "onnx", "precision": "int8"}
    if "tflite" in formats:
        fp32 = export_tflite(module, example)
        tick = progress("calibrate TFLite int8", len(data.calibration)) if progress else None
        int8 = export_tflite_int8(module, example, data.calibration, progress=tick)
        out["model_fp32.tflite"] = {"bytes": fp32, "format": "tflite", "precision": "fp32"}
        out["model_int8.tflite"] = {"bytes": int8, "format": "tflite", "precision": "int8"}
    for art in out.values():
        art.update(
            _onnx_specs(art["bytes"]) if art["format"] == "onnx" else _tflite_specs(art["bytes"])
        )
    return out


def _manifest(
    ckpt: Checkpoint,
    name: str,
    artifacts: dict[str, dict],
    params: int,
    macs: int,
    tolerance: dict[str, float],
    measured: dict[str, Any],
) -> dict:
    return {
        "schema_version": 1,
        "name": name,
        "version": "1",
        "modality": ckpt.modality,
        "task": ckpt.task,
        "front_end": ckpt.front_end,
        "models": [
            {
                "file": f,
                "format": a["format"],
                "precision": a["precision"],
                "inputs": a["inputs"],
                "outputs": a["outputs"],
            }
            for f, a in artifacts.items()
        ],
        "params": params,
        "macs": macs,
        "provenance": ckpt.provenance,
        "tolerance": tolerance,
        "measured": measured,
        "description": f"{ckpt.architecture} student exported by affect-edge",
    }


def _stage(ckpt, name, artifacts, params, macs, tmp: Path) -> Bundle:
    loose = {"fp32": 1e9, "int8": 1e9}
    return write_bundle(
        tmp / "staged",
        _manifest(ckpt, name, artifacts, params, macs, loose, {}),
        {f: a["bytes"] for f, a in artifacts.items()},
        overwrite=True,
    )


def build_bundle(
    checkpoint: str | Path,
    calibration: str | Path,
    out: str | Path,
    options: ExportOptions = ExportOptions(),
    progress: Progress | None = None,
) -> tuple[Bundle, dict]:
    """Export a checkpoint to a verified bundle at `out`; returns it and the report."""
    unknown = sorted(set(options.formats) - set(FORMATS))
    if unknown or not options.formats:
        raise ExportError(
            f"formats must be a non-empty subset of {FORMATS}, got {list(options.formats)}"
        )
    out = Path(out)
    # Before any work: an existing output is replaced only with --force and only if it is a
    # bundle we wrote (never a user's folder or file), and its folder must be writable.
    check_output(out, options.overwrite, bundle_problem, "bundle")
    profile = None
    if options.profile:
        from devices.profile import load_profile

        profile = load_profile(options.profile)
    ckpt = Checkpoint.load(checkpoint)
    module = ckpt.build()
    data = load_calibration(calibration, ckpt.input_shape, ckpt.front_end, options.heldout_fraction)
    params, macs = count_params(module), count_macs(module, ckpt.example_input())
    name = options.name or ckpt.name
    ladder = _KEEP_FLOAT_LADDER if options.keep_float == "auto" else (tuple(options.keep_float),)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = export_artifacts(ckpt, module, data, options.formats, ladder[0], progress)
        results = verify_bundle(
            _stage(ckpt, name, artifacts, params, macs, Path(tmp)),
            module,
            data.heldout,
            ckpt.task,
            progress,
        )
        keep_used = ladder[0]
        for keep in ladder[1:]:
            onnx_int8 = results.get("model_int8.onnx")
            if onnx_int8 is None or acceptable(
                onnx_int8["figures"], ckpt.task, options.min_ccc, options.min_top1
            ):
                break
            log.info(
                "ONNX int8 drift too high with keep_float=%s: %s",
                list(keep_used),
                onnx_int8["figures"],
            )
            from quant.quantize_onnx import quantize_onnx

            artifacts["model_int8.onnx"]["bytes"] = quantize_onnx(
                artifacts["model_fp32.onnx"]["bytes"], data.calibration, keep_float=keep
            )
            staged = _stage(ckpt, name, artifacts, params, macs, Path(tmp))
            results.update(
                verify_bundle(
                    staged, module, data.heldout, ckpt.task, progress, only={"model_int8.onnx"}
                )
            )
            keep_used = keep
        cross = []
        for a, b in combinations(artifacts, 2):
            if artifacts[a]["precision"] == artifacts[b]["precision"]:
                diff = float(np.max(np.abs(results[a]["outputs"] - results[b]["outputs"])))
                cross.append({"a": a, "b": b, "max_abs_diff": diff})
        # Reference examples (see quant/reference.py): held-out inputs on the int8 input grid, the
        # float model's outputs on them, and the tolerances derived from what every model does there.
        scale, zero_point = input_grid(list(artifacts.values()), data.heldout)
        ref_q, ref_inputs = pack(data.heldout[:REFERENCE_EXAMPLES], scale, zero_point)
        ref_outputs = float_reference(module, ref_inputs)
        staged = _stage(ckpt, name, artifacts, params, macs, Path(tmp))
        measured_ref = measure(staged, ref_inputs, ref_outputs)
        tolerance, mean_tolerance = derive(measured_ref, list(artifacts.values()), ckpt.task)
        reference_npz = to_npz(ref_q, scale, zero_point, ref_outputs)
        measured = {
            "verification": {f: r["figures"] for f, r in results.items()},
            "cross_engine": cross,
            "keep_float_onnx_int8": list(keep_used),
            "calibration": {
                "source": data.source,
                "calibration_examples": len(data.calibration),
                "heldout_examples": len(data.heldout),
            },
            "build_host": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "student": ckpt.report,
        }
        manifest = _manifest(ckpt, name, artifacts, params, macs, tolerance, measured)
        manifest["reference"] = reference_section(len(ref_q), mean_tolerance, measured_ref)
        files = {f: a["bytes"] for f, a in artifacts.items()}
        files[REFERENCE_FILE] = reference_npz
        violations = []
        if profile is not None:
            staged = write_bundle(Path(tmp) / "final", manifest, files)
            for m in staged.manifest.models:
                if m.precision == "int8":
                    violations += check_load(staged.manifest, m, profile)
            enforce(violations, profile, options.allow_over_budget)
        # Written and verified beside the old bundle, then swapped in by rename.
        staged = staging_path(out)
        try:
            write_bundle(staged, manifest, files, as_zip=out.suffix == ".zip")
            swap_in(staged, out)
        finally:
            if staged.is_dir():
                shutil.rmtree(staged, ignore_errors=True)
            elif staged.exists():
                staged.unlink()
        bundle = load_bundle(out)
    report = {
        "bundle": str(out),
        "params": params,
        "macs": macs,
        "tolerance": tolerance,
        "mean_tolerance": mean_tolerance,
        "violations": [str(v) for v in violations],
        **measured,
    }
    return bundle, report
