"""`affect-edge profiles list|show`: the device profiles and their budgets."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from devices.profile import list_profiles, load_profile
from edge.cli import render

HELP = "list and show device profiles (budgets, sensors, compute)"
#: How far the device half has been checked on each profile's arch (README, "On arm64").
CHECKED = {
    "aarch64": "under emulation only: make arm64-check installs and runs the device half on "
    "Debian 12 arm64 (Python 3.11) in qemu-user and compares its events with x86's; "
    "latency is this host's times the factor above, not measured on the device",
}


def _basis(estimate: bool, source: str) -> str:
    """'estimate: ...' once, whether or not the source text already starts with the word."""
    kind = "estimate" if estimate else "measured"
    text = source.split(":", 1)[1].strip() if source.lower().startswith(f"{kind}:") else source
    return f"{kind}: {text}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="profiles_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="the shipped device profiles")
    show = sub.add_parser(
        "show", help="one profile: compute, sensors, budgets, and where the figures come from"
    )
    show.add_argument("profile", help="profile name or .toml path")
    show.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    if args.profiles_command == "list":
        rows = []
        for name in list_profiles():
            p = load_profile(name)
            rows.append(
                [
                    p.name,
                    p.arch,
                    p.cores,
                    p.preferred_engine,
                    ", ".join(sorted(p.budgets)),
                    p.description,
                ]
            )
        render.table(
            "device profiles", ["name", "arch", "cores", "engine", "budgets", "description"], rows
        )
        return 0
    p = load_profile(args.profile)
    if args.json:
        render.emit_json(asdict(p))
        return 0
    c = p.compute
    render.table(
        p.name,
        ["field", "value"],
        [
            ["description", p.description],
            ["arch / cores", f"{p.arch} / {p.cores}"],
            ["memory", f"{p.memory_bytes:,} bytes"],
            ["preferred engine", p.preferred_engine],
            [
                "compute",
                f"{c.macs_per_s:.3g} MAC/s per core ({_basis(c.estimate, c.source)})",
            ],
            [
                "latency from this host",
                "no factor: latency measured here is not checked on this target"
                if c.host_latency_scale is None
                else f"x{c.host_latency_scale:g} ({c.host_latency_scale_source})",
            ],
            *([["checked on " + p.arch, CHECKED[p.arch]]] if p.arch in CHECKED else []),
        ],
    )
    render.table(
        "sensors",
        ["kind", "rate", "channels", "block"],
        [
            [
                s.kind,
                f"{s.rate_hz:g} Hz",
                ", ".join(s.channels),
                f"{s.block_samples} samples" if s.block_samples else "-",
            ]
            for s in p.sensors
        ],
    )
    render.table(
        "budgets",
        ["modality", "latency p99", "latency p50", "model bytes", "RSS"],
        [
            [
                m,
                f"{b.latency_p99_ms:g} ms" if b.latency_p99_ms else "-",
                f"{b.latency_p50_ms:g} ms" if b.latency_p50_ms else "-",
                f"{b.model_bytes:,} B" if b.model_bytes else "-",
                f"{b.rss_bytes / 2**20:,.0f} MiB" if b.rss_bytes else "-",
            ]
            for m, b in sorted(p.budgets.items())
        ],
    )
    return 0
