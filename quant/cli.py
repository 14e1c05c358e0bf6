"""`affect-edge export CHECKPOINT`: a trained student -> a verified int8 bundle (offline; needs torch).

Contributed to the `affect-edge` command through the `affect_edge.commands` entry point, so the
device CLI never imports the offline half; torch, onnx and litert-torch load only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.console import render
from edge.console.render import progress_bars
from edge.errors import ConfigError

HELP = "turn a student checkpoint into a verified int8 bundle (offline; needs torch)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "checkpoint", type=Path, help="student checkpoint (.pt) written by `affect-edge distill`"
    )
    p.add_argument(
        "--calibration",
        type=Path,
        required=True,
        help="real front-end features: .npy/.npz array (n, *input_shape), or a folder of WAVs "
        "(log-mel windows made by the device front end)",
    )
    p.add_argument(
        "-o", "--output", type=Path, required=True, help="bundle to write (a directory, or .zip)"
    )
    p.add_argument(
        "--formats", default="onnx,tflite", help="comma-separated: onnx, tflite (default both)"
    )
    p.add_argument(
        "--keep-float",
        default="auto",
        help="layers of the ONNX int8 model to keep in float: 'auto' (only if drift is too high), "
        "'none', or a comma list of first, last and node names",
    )
    p.add_argument("--profile", help="device profile whose budgets the int8 models must meet")
    p.add_argument(
        "--allow-over-budget", action="store_true", help="write the bundle even if over budget"
    )
    p.add_argument(
        "--heldout", type=float, default=0.25, help="fraction of examples held out for drift (0.25)"
    )
    p.add_argument("--name", help="bundle name (default: the checkpoint's)")
    p.add_argument("--force", action="store_true", help="replace an existing bundle at --output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from distill.outputs import bundle_problem, check_checkpoint_file, check_output

    # What is refused for the paths alone is said before torch and the exporters load (seconds).
    check_output(args.output, args.force, bundle_problem, "bundle")
    check_checkpoint_file(args.checkpoint)
    try:
        from quant.build import ExportOptions, build_bundle
    except ImportError as exc:
        raise ConfigError(
            f"`affect-edge export` needs the offline tools ({exc.name} is missing): "
            "pip install 'affect-edge[export,train]'"
        ) from exc
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    keep = args.keep_float
    keep_float = (
        "auto"
        if keep == "auto"
        else ()
        if keep == "none"
        else tuple(k.strip() for k in keep.split(","))
    )
    options = ExportOptions(
        formats=formats,
        keep_float=keep_float,
        heldout_fraction=args.heldout,
        profile=args.profile,
        allow_over_budget=args.allow_over_budget,
        overwrite=args.force,
        name=args.name,
    )
    with progress_bars(not args.json and sys.stderr.isatty()) as bars:
        bundle, report = build_bundle(
            args.checkpoint, args.calibration, args.output, options, progress=bars
        )
    if args.json:
        render.emit_json(report)
        return 0
    rows = []
    for f, fig in report["verification"].items():
        agreement = (
            f"top-1 {fig['top1_agreement']:.3f}, KL {fig['kl_nats']:.2g}"
            + (
                f", ties {fig['tied_top1']:.0%} (top-1 among them {fig['top1_among_tied']:.3f})"
                if fig.get("tied_top1")
                else ""
            )
            if "top1_agreement" in fig
            else "CCC " + ", ".join(f"{k} {v:.4f}" for k, v in fig["ccc"].items())
        )
        rows.append(
            [
                f,
                f"{fig['bytes']:,}",
                f"{fig['max_abs_error']:.3g}",
                agreement,
                f"{fig['latency_p50_ms']:.3f} ms",
            ]
        )
    render.table(
        f"{bundle.manifest.name}: {report['params']:,} params, {report['macs']:,} MACs per inference",
        [
            "file",
            "bytes",
            "max |error| vs float torch",
            "agreement with float torch",
            "p50 latency",
        ],
        rows,
    )
    if report["keep_float_onnx_int8"]:
        render.line(f"ONNX int8 keeps these layers in float: {report['keep_float_onnx_int8']}")
    for v in report["violations"]:
        render.line(f"OVER BUDGET (allowed): {v}")
    render.line(f"wrote {bundle.path}")
    return 0
