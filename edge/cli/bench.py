"""`affect-edge bench BUNDLE`: latency, RSS and model bytes against a device profile's budget."""

from __future__ import annotations

import argparse
import os

import numpy as np

from devices.profile import load_profile
from edge.cli import render
from edge.cli.args import positive_int, whole_number
from edge.runtime import load_bundle
from edge.runtime.budget import latency_scale, load_checks, runtime_checks
from edge.runtime.engines import ENGINE_NAMES, open_engine, resolve
from edge.runtime.memory import rss_bytes
from edge.runtime.registry import find_bundle

HELP = "measure a bundle's latency, memory and size against a device profile"
OVER_BUDGET_EXIT = 3
#: Latency is measured this many times over; the verdict takes the median round.
ROUNDS = 5
EPILOG = """Checks, each shown with its basis: the model's bytes (against the modality's budget and the
device's memory), the latency its MACs imply at the profile's compute rate, the share of one core
it takes at its update rate, and, measured here, p50/p99 latency (scaled to the target only where
the profile gives a factor) and the process RSS.

Latency is measured in ROUNDS rounds of --runs calls each; each figure is the median of the
rounds' figures, so one burst of host noise does not flip the verdict. A latency check whose
rounds fall on both sides of its limit is marked "inconclusive" (judged by the median): rerun
on a quieter machine before trusting it.

Exit status: 0 within every budget checked (or none to check); 3 a budget is broken, at load or
at run time; 2 an error. A load-time violation stops before measuring unless --allow-over-budget
is given; the exit status is 3 either way."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle name, directory or .zip")
    p.add_argument(
        "--engine",
        choices=ENGINE_NAMES,
        help="runtime: onnx, tflite, or native (affect-edge's C kernel, for HiSTN EEG students; "
        "it runs their fp32 ONNX weights) (default: the profile's preference, else the "
        "bundle's default, else onnx)",
    )
    p.add_argument(
        "--precision", choices=["fp32", "int8"], help="model precision (default: int8 if present)"
    )
    p.add_argument(
        "--profile", help="device profile name or .toml path; budgets are checked against it"
    )
    p.add_argument(
        "--runs", type=positive_int, default=200, help="timed calls after warm-up (default 200)"
    )
    cores = os.cpu_count() or 1
    p.add_argument(
        "--threads",
        type=whole_number(1, cores, f"this machine has {cores} cores"),
        default=1,
        help=f"intra-op threads, 1 to {cores} (default 1)",
    )
    p.add_argument(
        "--allow-over-budget",
        action="store_true",
        help="measure even when a load-time budget is broken (the exit status is still 3)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.epilog = EPILOG


def run(args: argparse.Namespace) -> int:
    bundle = load_bundle(find_bundle(args.bundle))
    m = bundle.manifest
    profile = load_profile(args.profile) if args.profile else None
    preferred = profile.preferred_engine if profile else None
    _, model = resolve(bundle, args.engine, args.precision, preferred)
    checks = load_checks(m, model, profile) if profile else []
    report = {
        "bundle": str(bundle.path),
        "model": model.file,
        "model_bytes": model.size_bytes,
        "profile": profile.name if profile else None,
        "budget": profile.budget(m.modality).__dict__
        if profile and profile.budget(m.modality)
        else None,
        "measured": False,
    }
    if all(c.ok for c in checks) or args.allow_over_budget:
        engine = open_engine(bundle, args.engine, args.precision, preferred, args.threads)
        engine.warmup()
        inputs = engine.example_inputs()
        rounds = []
        for _ in range(ROUNDS):
            engine.latency.reset()
            for _ in range(args.runs):
                engine.run(inputs)
            rounds.append(engine.latency.summary())
        latency = median_round(rounds)
        report["latency_rounds"] = rounds
        rss = rss_bytes()
        scale, basis = latency_scale(profile) if profile else (None, "")
        if profile:
            checks += runtime_checks(m.modality, latency, rss, profile)
            report["inconclusive"] = inconclusive(checks, rounds, scale)
        report.update(
            measured=True,
            engine=engine.name,
            runtime=engine.runtime,
            threads=args.threads,
            runs=args.runs,
            latency=latency,
            rss_bytes=rss,
            latency_scale=scale,
            latency_scale_basis=basis,
        )
    report["checks"] = [
        {
            "figure": c.budget,
            "value": c.value,
            "limit": c.limit,
            "unit": c.unit,
            "basis": c.basis,
            "ok": c.ok,
            "inconclusive": c.budget in report.get("inconclusive", {}),
        }
        for c in checks
    ]
    report["violations"] = [str(c) for c in checks if not c.ok]
    report["ok"] = not report["violations"]
    if args.json:
        render.emit_json(report)
    else:
        show(report, m.modality)
    return 0 if report["ok"] else OVER_BUDGET_EXIT


def median_round(rounds: list[dict]) -> dict:
    """Each latency figure as the median over the rounds (count: the calls of all of them)."""
    out = {k: float(np.median([r[k] for r in rounds])) for k in rounds[0] if k != "count"}
    out["count"] = sum(r["count"] for r in rounds)
    out["rounds"] = len(rounds)
    return out


def inconclusive(checks: list, rounds: list[dict], scale: float | None) -> dict[str, list]:
    """Latency checks whose rounds fall on both sides of the limit: their rounds' values."""
    out = {}
    for c in checks:
        key = c.budget.removeprefix("latency_")
        if c.limit is None or scale is None or key not in rounds[0] or c.budget == key:
            continue
        values = [r[key] * scale for r in rounds]
        if min(values) <= c.limit < max(values):
            out[c.budget] = [round(v, 4) for v in values]
    return out


def show(report: dict, modality: str) -> None:
    if report["measured"]:
        lat = report["latency"]
        render.table(
            f"{report['model']} on {report['engine']} ({report['runtime']}, "
            f"{report['threads']} thread{'s' if report['threads'] > 1 else ''}), measured here",
            ["figure", "value"],
            [
                ["latency p50", f"{lat['p50_ms']:.3f} ms (median of {lat['rounds']} rounds)"],
                ["latency p99", f"{lat['p99_ms']:.3f} ms (median of {lat['rounds']} rounds)"],
                ["model bytes", f"{report['model_bytes']:,}"],
                ["process RSS", f"{report['rss_bytes']:,} bytes"],
            ],
        )
    profile = report["profile"]
    if profile is None:
        render.line("no --profile given: no budget checked")
        return
    checks = report["checks"]
    render.table(
        f"checks against {profile}",
        ["figure", "value", "limit", "result", "basis"],
        [
            [
                c["figure"],
                _fmt(c["value"], c["unit"]),
                "-" if c["limit"] is None else _fmt(c["limit"], c["unit"]),
                "-"
                if c["limit"] is None
                else ("ok" if c["ok"] else "OVER")
                + (" (inconclusive)" if c["inconclusive"] else ""),
                c["basis"],
            ]
            for c in checks
        ],
    )
    if report["measured"] and report["latency_scale"] is None and report["budget"]:
        render.line(f"measured latency on {profile}: {report['latency_scale_basis']}")
    if report["budget"] is None:
        render.line(
            f"{profile} sets no {modality} budget: only the device's memory and compute were checked"
        )
    if not report["measured"]:
        render.line(
            "not measured: a load-time budget is broken (--allow-over-budget measures anyway)"
        )
    for figure, values in report.get("inconclusive", {}).items():
        render.line(
            f"inconclusive: {figure} ranged {min(values):.3f}-{max(values):.3f} ms over "
            f"{len(values)} rounds, across its limit; judged by the median. Host noise: rerun on "
            "a quieter machine (fewer other processes) before trusting this verdict."
        )
    for v in report["violations"]:
        render.line(f"OVER BUDGET: {v}")
    if report["ok"]:
        render.line(f"within every {profile} budget checked")


def _fmt(x: float, unit: str) -> str:
    if unit == "bytes":
        return f"{int(x):,} B"
    if unit == "of one core":
        return f"{100 * x:.2f}% of a core"
    return f"{x:.3f} {unit}"
