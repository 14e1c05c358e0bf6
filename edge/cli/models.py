"""`affect-edge models list|inspect|verify`: find bundles, show a manifest, check a bundle runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge.cli import render
from edge.errors import BundleError
from edge.runtime import load_bundle
from edge.runtime.registry import MODELS_ENV, bundles_in, find_bundle, search_dirs
from edge.runtime.verify import verify_bundle

HELP = "list, inspect and verify model bundles"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = sub.add_parser(
        "list", help="list bundles in the bundled models folder, $AFFECT_EDGE_MODELS and --dir"
    )
    ls.add_argument(
        "--dir",
        type=Path,
        action="append",
        default=[],
        help="another folder to search (repeatable)",
    )
    ls.add_argument("--json", action="store_true", help="print JSON")
    ins = sub.add_parser(
        "inspect", help="show a bundle's manifest: task, front end, files, provenance, figures"
    )
    ins.add_argument("bundle", help="bundle name, directory or .zip")
    ins.add_argument("--json", action="store_true", help="print the manifest as JSON")
    ver = sub.add_parser(
        "verify",
        help="check checksums, the front end against the model, every model against the float "
        "model's outputs on the bundle's reference examples, within the manifest's tolerances, "
        "and int8 against float on inputs the device's front end makes",
    )
    ver.add_argument("bundle", help="bundle name, directory or .zip")
    ver.add_argument("--json", action="store_true", help="print JSON")


def cmd_list(args: argparse.Namespace) -> int:
    rows, found = [], []
    dirs = search_dirs(args.dir)
    missing = [str(d) for d in dirs[1:] if not d.is_dir()]
    for d in missing:
        render.note(f"affect-edge: warning: model folder not found: {d}", args.json)
    for folder in dirs:
        for path in bundles_in(folder):
            try:
                m = load_bundle(path).manifest
                formats = ", ".join(f"{x.format}/{x.precision}" for x in m.models)
                found.append(
                    {
                        "path": str(path),
                        "name": m.name,
                        "modality": m.modality,
                        "task": m.task.kind,
                        "formats": formats,
                        "params": m.params,
                        "licence": m.provenance.licence,
                    }
                )
                rows.append(
                    [
                        m.name,
                        m.modality,
                        m.task.kind,
                        formats,
                        f"{m.params:,}",
                        m.provenance.licence,
                        str(path),
                    ]
                )
            except BundleError as exc:
                found.append({"path": str(path), "error": str(exc)})
                rows.append(["(invalid)", "", "", "", "", "", f"{path}: {exc}"])
    if args.json:
        render.emit_json({"searched": [str(d) for d in dirs], "missing": missing, "bundles": found})
    elif rows:
        render.table(
            "model bundles",
            ["name", "modality", "task", "models", "params", "licence", "path"],
            rows,
        )
    else:
        render.line(
            "no bundles found in: "
            + ", ".join(str(d) for d in dirs)
            + f" (set ${MODELS_ENV} or --dir)"
        )
    return 0


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested figures as (dotted.path, readable value) rows; long lists are summarised."""
    if isinstance(value, dict):
        rows = []
        for k, v in value.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(value, list):
        if all(isinstance(v, (int, float)) for v in value) and len(value) <= 8:
            return [(prefix, ", ".join(_fmt(v) for v in value))]
        if all(isinstance(v, dict) for v in value) and len(value) <= 8:
            rows = []
            for i, v in enumerate(value):
                rows += flatten(v, f"{prefix}[{i}]")
            return rows
        return [(prefix, f"{len(value)} items (see --json)")]
    return [(prefix, _fmt(value))]


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def cmd_inspect(args: argparse.Namespace) -> int:
    bundle = load_bundle(find_bundle(args.bundle))
    m = bundle.manifest
    if args.json:
        render.emit_json(m.to_dict())
        return 0
    task = m.task.labels if m.task.kind == "classification" else m.task.outputs
    render.table(
        f"{m.name} {m.version} ({bundle.path})",
        ["field", "value"],
        [
            ["modality", m.modality],
            [
                "task",
                f"{m.task.kind}: {', '.join(task)}"
                + (f" ({m.task.levels} levels)" if m.task.levels else ""),
            ],
            ["front end", ", ".join(f"{k}={v}" for k, v in m.front_end.to_dict().items())],
            ["parameters", f"{m.params:,}"],
            ["MACs per inference", f"{m.macs:,}"],
            ["teacher", m.provenance.teacher],
            ["data", m.provenance.data],
            ["licence", m.provenance.licence],
            ["built", f"{m.provenance.date} from {m.provenance.source_revision}"],
        ],
    )
    render.table(
        "model files",
        ["file", "format", "precision", "bytes", "inputs", "outputs"],
        [
            [
                x.file,
                x.format,
                x.precision,
                f"{x.size_bytes:,}",
                "; ".join(f"{t.name} {list(t.shape)} {t.dtype}" for t in x.inputs),
                "; ".join(f"{t.name} {list(t.shape)} {t.dtype}" for t in x.outputs),
            ]
            for x in m.models
        ],
    )
    if m.measured:
        render.table("measured", ["figure", "value"], [list(r) for r in flatten(m.measured)])
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from edge.runtime.device_check import int8_against_float

    bundle = load_bundle(find_bundle(args.bundle))
    report = verify_bundle(bundle)
    # int8 against float on inputs the device's front end makes (not the bundle's own examples,
    # which share any mistake in the calibration data they came from).
    device = int8_against_float(bundle)
    report["int8_on_device_inputs"] = device
    report["ok"] = report["ok"] and (device is None or device["ok"])
    if args.json:
        render.emit_json(report)
        return 0 if report["ok"] else 2
    render.line(f"{report['bundle']}: manifest, sizes and sha256 checksums verified")
    if report["examples"]:
        render.line(
            f"every model against the float model's outputs on the bundle's {report['examples']} "
            "reference examples (held-out real inputs)"
        )
        render.table(
            "models",
            ["file", "engine", "bytes", "max |diff| (limit)", "mean |diff| (limit)", "result"],
            [
                [
                    r["file"],
                    f"{r['format']}/{r['precision']}",
                    f"{r['bytes']:,}",
                    f"{r['max_abs']:.3g} ({r['tolerance']:.3g})" if "max_abs" in r else "-",
                    f"{r['mean_abs']:.3g} ({r['mean_tolerance']:.3g})" if "mean_abs" in r else "-",
                    r["status"] if r["status"] != "failed" else f"failed: {r.get('error', '')}",
                ]
                for r in report["models"]
            ],
        )
    else:
        render.line("no reference examples in this bundle: engines compared on one random input")
        render.table(
            "models",
            ["file", "engine", "bytes", "result"],
            [
                [
                    r["file"],
                    f"{r['format']}/{r['precision']}",
                    f"{r['bytes']:,}",
                    r["status"] if r["status"] == "ok" else f"{r['status']}: {r.get('error', '')}",
                ]
                for r in report["models"]
            ],
        )
    if report["comparisons"]:
        render.table(
            "engines of one precision on the same inputs",
            ["models", "max |difference|", "limit", "result"],
            [
                [
                    f"{c['a']} vs {c['b']}",
                    f"{c['max_abs_diff']:.3g}",
                    f"{c['tolerance']:.3g}",
                    "ok" if c["ok"] else "TOO FAR APART",
                ]
                for c in report["comparisons"]
            ],
        )
    if device is not None and device["models"]:
        render.table(
            f"int8 against float on {device['examples']} {device['source']}, made by the "
            "device's front end",
            ["model", "against", "max |difference|", "agreement", "limit", "result"],
            [
                [
                    r["file"],
                    r["against"],
                    f"{r['max_abs']:.3g}",
                    f"top-1 {r['top1_agreement']:.3f}" if "top1_agreement" in r else "-",
                    r["limit"],
                    "ok" if r["ok"] else "INT8 DRIFTS FROM FLOAT",
                ]
                for r in device["models"]
            ],
        )
    if device is not None and device["skipped"]:
        render.line(
            f"not checked on device inputs: {', '.join(r['file'] for r in device['skipped'])} "
            f"({'; '.join(sorted({r['reason'] for r in device['skipped']}))})"
        )
    render.line("verified" if report["ok"] else "VERIFICATION FAILED")
    return 0 if report["ok"] else 2


def run(args: argparse.Namespace) -> int:
    return {"list": cmd_list, "inspect": cmd_inspect, "verify": cmd_verify}[args.models_command](
        args
    )
