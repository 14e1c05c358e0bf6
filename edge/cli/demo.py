"""`affect-edge demo`: the main job on the bundled sample inputs (what `make demo` runs).

First all three modalities at once, through the daemon's own machinery (a worker thread per
source, the pipelines, one event bus), paced to real time (`--speed` to hurry): the bundled
speech clip, the bundled photograph shown as a still video, and a synthetic 14-channel EEG
recording made here (a blink and a muscle burst in it). A live view shows the latest A/D/V,
expression and EEG level; then a table of latencies against the x86 host profile's budgets.
Then each modality's events in full, and the clip's log-mel through the bundle's front end.
The EEG model is trained on synthetic EEG: it shows the runtime, not emotion. `--json` prints
everything as one JSON document; `--plot out.png` draws the three timelines. `--web` also serves
the daemon's live page (`edge.web`) on loopback while the demo runs, and after it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

from edge.cli import features, render
from edge.cli import run as run_command
from edge.cli.args import plot_file, positive_number
from edge.cli.run_eeg import flag_notes
from edge.frontends.eeg import FLAGS
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from edge.samples import (  # noqa: F401 - re-exported for scripts that read them here
    DEMO_CALIBRATION_S,
    EMOTIV_14,
    sample_clip,
    sample_face,
    synthetic_eeg,
)

HELP = "run the default models on the bundled sample inputs (what `make demo` runs)"


def face_demo() -> tuple[list, dict] | None:
    """The default face bundles on the bundled photograph; None where OpenCV is not installed."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return None
    from edge.cli.run_face import face_events

    return face_events(str(sample_face()))


EEG_CALIBRATION_S = DEMO_CALIBRATION_S


class Collector:
    """A sink that keeps every event, for the live view and the summary."""

    def __init__(self) -> None:
        self.events: list = []
        self.written = 0
        self.dropped = 0

    def write(self, event) -> None:
        self.events.append(event)
        self.written += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def of(self, modality: str) -> list:
        return [e for e in self.events if e.modality == modality]


def live_demo(
    speed: float = 1.0, live: bool = True, web: str | None = None
) -> tuple[Collector, dict]:
    """Every registered modality with a demo input (speech, face and EEG, and any other) at once
    through the daemon's workers; returns the events and each worker's figures. `web`
    ("[ADDRESS:]PORT"): serve the live page there too."""
    from edge import modalities as registry
    from edge.daemon.config import DaemonConfig, ModalityConfig
    from edge.daemon.runner import Daemon

    collector = Collector()
    with tempfile.TemporaryDirectory() as tmp:
        modalities = []
        for name in registry.names():
            sample = registry.get(name).sample
            given = sample(Path(tmp), speed) if sample is not None else None
            if given is not None:
                modalities.append(ModalityConfig(name, *given))
        web_config = _web_config(web) if web else None
        config = DaemonConfig(
            "demo",
            "x86-host",
            None,
            100_000,
            tuple(modalities),
            (),
            2.0 if web else 0.0,
            web_config,
        )
        daemon = Daemon(config, extra_sinks=(collector,))
        try:
            if web:
                url = daemon.sinks[-1].url
                render.note(f"live page: {url} (open it in a browser)", not live)
            _watch(daemon, collector, live)
            if web and __import__("sys").stdin.isatty():
                render.note(f"the run has ended; {url} stays up until Ctrl-C", not live)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(0.5)
            figures = {w.config.name: w.snapshot() for w in daemon.workers}
        finally:
            daemon.close()
    return collector, figures


def _web_config(web: str):
    """`--web [ADDRESS:]PORT` as the daemon's [web] table (loopback unless it names another)."""
    from edge.web.config import parse_web

    address, _, port = web.rpartition(":")
    if not port.isdigit():
        from edge.errors import ConfigError

        raise ConfigError(f"--web: expected [ADDRESS:]PORT such as 127.0.0.1:8765, got {web!r}")
    from edge.web.config import is_loopback

    if address and not is_loopback(address.strip("[]")):
        from edge.errors import ConfigError

        raise ConfigError(
            f"--web: the demo serves loopback only (127.0.0.1 or ::1), not {address}; for another "
            "address use the daemon's [web] table with a token"
        )
    return parse_web({"address": address.strip("[]") or "127.0.0.1", "port": int(port)}, "--web")


def _watch(daemon, collector: Collector, live: bool) -> None:
    """Wait for the sources to end, drawing the latest estimates while a terminal watches."""
    deadline = time.monotonic() + 120
    view = None
    if live and render.Console is not None and __import__("sys").stdout.isatty():
        from rich.live import Live

        view = Live(_live_table(collector, 0.0), refresh_per_second=8, transient=False)
        view.start()
    t0 = time.monotonic()
    try:
        while daemon.running() and time.monotonic() < deadline:
            time.sleep(0.1)
            if view is not None:
                view.update(_live_table(collector, time.monotonic() - t0))
    finally:
        if view is not None:
            view.update(_live_table(collector, time.monotonic() - t0))
            view.stop()


def _live_table(collector: Collector, elapsed: float):
    from rich.table import Table

    t = Table(
        title=f"affect-edge, three modalities at once ({elapsed:4.1f} s)", title_justify="left"
    )
    for col in ("modality", "latest", "events"):
        t.add_column(col)
    speech = [e for e in collector.of("speech") if e.values]
    face = collector.of("face")
    eeg = collector.of("eeg")
    t.add_row(
        "speech",
        ", ".join(f"{k[0].upper()} {v:.2f}" for k, v in speech[-1].values.items())
        if speech
        else "-",
        str(len(speech)),
    )
    if face:
        top = max(face[-1].values.items(), key=lambda kv: kv[1])
        t.add_row("face", f"{top[0]} {top[1]:.2f}", str(len(face)))
    else:
        t.add_row("face", "-", "0")
    if eeg:
        e = eeg[-1]
        flags = ", ".join(k for k in FLAGS if e.quality.get(k))
        level = f"level {e.values['level']:.2f}" if e.values else "calibrating"
        t.add_row("eeg", level + (f" (flagged: {flags})" if flags else ""), str(len(eeg)))
    else:
        t.add_row("eeg", f"calibrating ({2 + EEG_CALIBRATION_S:.0f} s)", "0")
    for name in sorted({e.modality for e in collector.events} - {"speech", "face", "eeg"}):
        mine = collector.of(name)
        latest = ", ".join(f"{k} {v:.2f}" for k, v in mine[-1].values.items())
        t.add_row(name, latest or "-", str(len(mine)))
    return t


def budget_rows(figures: dict) -> list[dict]:
    """Each modality's model latency against the x86 host profile's budget (`budget.verdict`)."""
    from devices.profile import load_profile
    from edge.runtime.budget import verdict

    profile = load_profile("x86-host")
    out = []
    for name in figures:
        lat = figures[name].get("pipeline", {}).get("model_latency", {})
        budget = profile.budget(name)
        p99 = lat.get("p99_ms")
        limit = budget.latency_p99_ms if budget else None
        out.append(
            {
                "modality": name,
                "windows": figures[name].get("pipeline", {}).get("windows", 0),
                "model_p50_ms": lat.get("p50_ms"),
                "model_p99_ms": p99,
                "budget_p99_ms": limit,
                "ok": verdict(name, lat, profile).ok,
            }
        )
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="print everything (speech, log-mel summary, face and EEG events, budgets) as JSON",
    )
    p.add_argument(
        "--speed",
        type=positive_number(
            "times real time", 0.1, 1000.0, "the inputs last 12 s: at 0.1 the demo takes 2 minutes"
        ),
        default=1.0,
        help="pace the three inputs at this many times real time (default 1: live)",
    )
    p.add_argument("--plot", type=plot_file, help="draw the three modalities' timelines here")
    p.add_argument(
        "--web",
        nargs="?",
        const="127.0.0.1:8765",
        metavar="ADDR:PORT",
        help="also serve the live page (default 127.0.0.1:8765) while the demo runs and, at a "
        "terminal, after it until Ctrl-C",
    )


def run(args: argparse.Namespace) -> int:
    clip = sample_clip()
    bundle = load_bundle(default_bundle("speech"))
    m = bundle.manifest
    if not args.json:
        render.line("affect-edge demo: on-device affect from the bundled sample inputs.")
        render.line(
            "Speech, face and EEG at once, each source on its own thread as the daemon runs them:"
        )
    collector, figures = live_demo(args.speed, live=not args.json, web=args.web)
    budgets = budget_rows(figures)
    events, info = run_command.speech_events(clip, bundle)
    summary = features.summarize(clip, m.front_end, 10.0)
    face = face_demo()
    eeg = collector.of("eeg")
    eeg_model = figures["eeg"]["model"]
    if args.plot:
        from edge.cli.plot import save_three

        save_three(collector.events, args.plot, "affect-edge demo: three modalities at once")
        render.note(f"plot written to {args.plot}", args.json)
    if args.json:
        render.emit_json(
            {
                "speech": {
                    "clip": clip.name,
                    "bundle": {
                        "name": m.name,
                        "version": m.version,
                        "licence": m.provenance.licence,
                    },
                    "engine": info["engine"],
                    "events": [e.to_dict() for e in events],
                },
                "log_mel": summary,
                "face": None
                if face is None
                else {
                    "image": sample_face().name,
                    "model": face[1]["model"],
                    "engine": face[1]["engine"],
                    "events": [e.to_dict() for e in face[0]],
                },
                "eeg": {
                    "synthetic": True,
                    "description": "the default EEG bundle (trained on synthetic EEG) on a "
                    "synthetic 14-channel recording: a blink at 6.3 s, a muscle burst at 9-10 s",
                    "model": eeg_model,
                    "events": [e.to_dict() for e in eeg],
                },
                "together": {
                    "speed": args.speed,
                    "events": {k: len(collector.of(k)) for k in figures},
                    "budgets": budgets,
                    "profile": "x86-host",
                },
            }
        )
        return 0
    render.table(
        "model latency against the x86-host profile's budgets (all three running at once)",
        ["modality", "windows", "p50", "p99", "budget p99", "verdict"],
        [
            [
                b["modality"],
                b["windows"],
                f"{b['model_p50_ms']:.2f} ms" if b["model_p50_ms"] is not None else "-",
                f"{b['model_p99_ms']:.2f} ms" if b["model_p99_ms"] is not None else "-",
                f"{b['budget_p99_ms']:g} ms" if b["budget_p99_ms"] else "-",
                {True: "ok", False: "OVER", None: "-"}[b["ok"]],
            ]
            for b in budgets
        ],
    )
    render.line()
    render.line(
        f"Speech: {m.name} ({m.params:,} parameters), taught by {m.provenance.teacher.split(' (')[0]};"
    )
    render.line(f"licence: {m.provenance.licence}.")
    render.line("The clip is synthetic speech (eSpeak NG); see edge/data/samples/README.md.")
    run_command.show(
        events, f"{clip.name}: {m.name} on {info['engine']}", info["nonfinite_replaced"]
    )
    render.line()
    features.show(summary)
    render.line()
    if face is None:
        render.line("Face: skipped (OpenCV is not installed: pip install 'affect-edge[camera]').")
    else:
        from edge.cli.run_face import show as show_faces

        render.line(
            "Face: BlazeFace finds the face, the expression student scores its eye-levelled crop;"
        )
        render.line("the photograph is NASA's portrait of Eileen Collins (public domain).")
        show_faces(face[0], face[1], sample_face().name)
    render.line()
    render.line(
        f"EEG: {eeg_model} on SYNTHETIC data (14 ch @ 128 Hz in 62.5 ms frames); the model is"
    )
    render.line("trained on synthetic EEG too: it shows the runtime, not emotion. 2 s of filter")
    render.line(
        f"settling and {EEG_CALIBRATION_S:g} s of calibration come first; the blink and the "
        "muscle burst are flagged."
    )
    render.table(
        "valence level per 1 s window",
        ["window", "level (1-5)", "scored", "flags"],
        [
            [
                f"{e.start_s:.1f}-{e.end_s:.1f} s",
                f"{e.values['level']:.2f}" if e.values else "-",
                "yes" if e.updated else "held",
                flag_notes(e.quality),
            ]
            for e in eeg
        ],
    )
    return 0
