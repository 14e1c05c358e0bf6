"""`affect-edge bench BUNDLE`: latency, RSS and model bytes against a device profile's budget."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from devices.profile import load_profile
from edge.cli import render
from edge.runtime import load_bundle
from edge.runtime.budget import check_load, check_runtime, enforce, latency_scale
from edge.runtime.engines import ENGINES, choose_format
from edge.runtime.memory import rss_bytes

OVER_BUDGET_EXIT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", type=Path, help="bundle directory or .zip")
    p.add_argument(
        "--engine",
        choices=sorted(ENGINES),
        help="runtime (default: the profile's preference, else onnx)",
    )
    p.add_argument(
        "--precision",
        choices=["fp32", "fp16", "int8"],
        help="model precision (default: int8 if present)",
    )
    p.add_argument(
        "--profile", help="device profile name or .toml path; budgets are checked against it"
    )
    p.add_argument("--runs", type=int, default=200, help="timed calls after warm-up (default 200)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument(
        "--allow-over-budget", action="store_true", help="run and report even if a budget is broken"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.epilog = "Exit status: 0 within budget (or no profile), 2 on an error, 3 over budget."


def run(args: argparse.Namespace) -> int:
    if args.runs < 1:
        raise SystemExit("affect-edge: error: --runs must be >= 1")
    bundle = load_bundle(args.bundle)
    profile = load_profile(args.profile) if args.profile else None
    fmt = choose_format(bundle, args.engine, profile.preferred_engine if profile else None)
    model = bundle.manifest.model(fmt, args.precision)
    violations = check_load(bundle.manifest, model, profile) if profile else []
    enforce(violations, profile, args.allow_over_budget) if profile else None
    engine = ENGINES[fmt](bundle, model, threads=args.threads)
    engine.warmup()
    inputs = engine.example_inputs()
    for _ in range(args.runs):
        engine.run(inputs)
    latency = engine.latency.summary()
    rss = rss_bytes()
    budget = profile.budget(bundle.manifest.modality) if profile else None
    scale, scale_basis = latency_scale(profile) if profile else (None, "")
    if profile:
        violations += check_runtime(bundle.manifest.modality, latency, rss, profile)
    report = {
        "bundle": str(bundle.path),
        "model": model.file,
        "engine": engine.name,
        "runtime": engine.runtime,
        "threads": args.threads,
        "runs": args.runs,
        "latency": latency,
        "rss_bytes": rss,
        "model_bytes": model.size_bytes,
        "profile": profile.name if profile else None,
        "budget": budget.__dict__ if budget else None,
        "latency_scale": scale,
        "latency_scale_basis": scale_basis,
        "violations": [str(v) for v in violations],
        "ok": not violations,
    }
    if args.json:
        render.emit_json(report)
    else:
        show(report, budget)
    if violations and not args.allow_over_budget:
        logging.getLogger(__name__).error("over budget")
        return OVER_BUDGET_EXIT
    return 0


def show(report: dict, budget) -> None:
    lat = report["latency"]

    def limit(key: str, unit: str = "") -> str:
        value = getattr(budget, key, None) if budget else None
        return "-" if value is None else (f"{value:,}" if unit == "bytes" else f"{value:g} ms")

    scale = report["latency_scale"]
    on_target = (
        f" (x{scale:g} = {lat['p99_ms'] * scale:.3f} ms on target)"
        if scale not in (None, 1.0)
        else ""
    )
    render.table(
        f"{report['model']} on {report['engine']} ({report['runtime']}, {report['threads']} thread)",
        [
            "figure",
            "measured here",
            "budget" + (f" ({report['profile']})" if report["profile"] else ""),
        ],
        [
            ["latency p50", f"{lat['p50_ms']:.3f} ms", limit("latency_p50_ms")],
            ["latency p99", f"{lat['p99_ms']:.3f} ms{on_target}", limit("latency_p99_ms")],
            ["model bytes", f"{report['model_bytes']:,}", limit("model_bytes", "bytes")],
            ["process RSS", f"{report['rss_bytes']:,}", limit("rss_bytes", "bytes")],
        ],
    )
    if report["profile"] is None:
        render.line("no --profile given: budgets not checked")
    elif report["latency_scale_basis"]:
        render.line(f"latency on target: {report['latency_scale_basis']}")
    for v in report["violations"]:
        render.line(f"OVER BUDGET: {v}")
    if report["profile"] and report["ok"]:
        render.line(f"within the {report['profile']} budget")
