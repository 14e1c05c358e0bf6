"""`affect-edge models list|inspect|verify`: find bundles, show a manifest, check a bundle runs."""

from __future__ import annotations

import argparse
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from edge.cli import render
from edge.errors import AffectEdgeError, BundleError
from edge.runtime import Bundle, load_bundle
from edge.runtime.engines import ENGINES
from edge.runtime.registry import MODELS_ENV, bundles_in, find_bundle, search_dirs

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
        help="check checksums, open every model in its engine, and compare engines within the manifest tolerance",
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


def verify(bundle: Bundle) -> dict:
    """Open every model, run one shared input through each, compare engines of equal precision."""
    results, outputs = [], {}
    for model in bundle.manifest.models:
        entry = {
            "file": model.file,
            "format": model.format,
            "precision": model.precision,
            "bytes": model.size_bytes,
        }
        try:
            engine = ENGINES[model.format](bundle, model)
            y = engine.run(engine.example_inputs(seed=7))
            finite = all(np.all(np.isfinite(v)) for v in y.values())
            entry.update(status="ok" if finite else "non-finite output", runtime=engine.runtime)
            outputs[model.file] = y
        except AffectEdgeError as exc:
            entry.update(status="failed", error=str(exc))
        results.append(entry)
    comparisons = []
    for a, b in combinations(bundle.manifest.models, 2):
        if a.precision != b.precision or a.file not in outputs or b.file not in outputs:
            continue
        diff = max(
            float(np.max(np.abs(outputs[a.file][k] - outputs[b.file][k]))) for k in outputs[a.file]
        )
        tol = bundle.manifest.tolerance[a.precision]
        comparisons.append(
            {"a": a.file, "b": b.file, "max_abs_diff": diff, "tolerance": tol, "ok": diff <= tol}
        )
    ok = all(r["status"] == "ok" for r in results) and all(c["ok"] for c in comparisons)
    return {"bundle": str(bundle.path), "ok": ok, "models": results, "comparisons": comparisons}


def cmd_verify(args: argparse.Namespace) -> int:
    report = verify(load_bundle(find_bundle(args.bundle)))
    if args.json:
        render.emit_json(report)
    else:
        render.line(f"{report['bundle']}: manifest, sizes and sha256 checksums verified")
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
                "engines on the same input",
                ["models", "max |difference|", "tolerance", "result"],
                [
                    [
                        f"{c['a']} vs {c['b']}",
                        f"{c['max_abs_diff']:.3g}",
                        f"{c['tolerance']:g}",
                        "ok" if c["ok"] else "TOO FAR APART",
                    ]
                    for c in report["comparisons"]
                ],
            )
        render.line("verified" if report["ok"] else "VERIFICATION FAILED")
    return 0 if report["ok"] else 2


def run(args: argparse.Namespace) -> int:
    return {"list": cmd_list, "inspect": cmd_inspect, "verify": cmd_verify}[args.models_command](
        args
    )
