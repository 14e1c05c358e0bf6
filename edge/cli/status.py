"""`affect-edge status --socket PATH`: a running daemon's live figures."""

from __future__ import annotations

import argparse

from edge.cli import render
from edge.errors import AffectEdgeError

HELP = "show a running daemon's figures: events, latency, drops, RSS, CPU (from its status socket)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", required=True, help="the daemon's status_socket path")
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON")


def run(args: argparse.Namespace) -> int:
    from edge.daemon.runner import read_status
    from edge.runtime.budget import verdict

    snap = read_status(args.socket)
    if args.json:
        render.emit_json(snap)
        return 0
    profile = None
    if snap.get("profile"):
        from devices.profile import load_profile

        try:
            profile = load_profile(snap["profile"])
        except AffectEdgeError:
            profile = None
    rows = []
    for name, m in snap["modalities"].items():
        p = m.get("pipeline", {})
        lat = p.get("model_latency", {})
        budget = profile.budget(name) if profile else None
        limit = budget.latency_p99_ms if budget else None
        # This host's p99 scaled to the target, as the daemon's system events judge it.
        judged = verdict(name, lat, profile).word if lat.get("p99_ms") is not None else ""
        rows.append(
            [
                name,
                m["state"],
                m["source"],
                m["frames"],
                snap["bus"]["events"].get(name, 0),
                p.get("dropped_windows", 0),
                f"{lat.get('p50_ms', 0):.2f} / {lat.get('p99_ms', 0):.2f}" if lat else "-",
                f"{limit:g} {judged}" if limit else "-",
                m["restarts"],
                m.get("loops", 0),
                m["last_error"] or "",
            ]
        )
    render.table(
        f"affect-edge daemon (pid {snap['pid']}, up {snap['uptime_s']:.0f} s, {snap['config']})",
        [
            "modality",
            "state",
            "source",
            "frames",
            "events",
            "dropped windows",
            "model p50/p99 ms",
            "budget p99 ms",
            "restarts",
            "loops",
            "last error",
        ],
        rows,
    )
    bus = snap["bus"]
    render.line(
        f"bus: {bus['delivered']} delivered, {bus['dropped']} dropped, {bus['waiting']} waiting; "
        + "; ".join(_sink_line(s) for s in snap["sinks"])
    )
    render.line(f"RSS {snap['rss_bytes'] / 2**20:.1f} MiB, CPU {snap['cpu_s']:.1f} s")
    return 0


def _sink_line(s: dict) -> str:
    text = f"{s['kind']}: {s['written']} written, {s['dropped']} dropped"
    if "clients" in s:
        text += (
            f", {s['clients']} clients ({s.get('clients_dropped', 0)} dropped, "
            f"{s.get('clients_refused', 0)} refused)"
        )
    if "connected" in s:
        text += f", {'connected' if s['connected'] else 'NOT connected'}"
        if s.get("buffered"):
            text += f", {s['buffered']} waiting"
    return text
