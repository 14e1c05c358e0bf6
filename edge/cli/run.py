"""`affect-edge run speech FILE`: A/D/V over time from an audio file, streamed as a device would."""

from __future__ import annotations

import argparse
import json
from importlib import resources
from pathlib import Path

import numpy as np

from edge.cli import render
from edge.errors import ConfigError, SourceError
from edge.runtime import load_bundle

DEFAULT_SPEECH_BUNDLE = "speech-adv"


def default_bundle(name: str) -> Path:
    return Path(str(resources.files("edge").joinpath("models", name)))


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="modality", metavar="MODALITY", required=True)
    s = sub.add_parser("speech", help="arousal, dominance and valence over time from an audio file")
    s.add_argument(
        "audio",
        type=Path,
        help="audio file: PCM WAV (any rate, mono or stereo); FLAC/Ogg with soundfile",
    )
    s.add_argument(
        "--bundle", type=Path, help=f"speech bundle (default: the bundled {DEFAULT_SPEECH_BUNDLE})"
    )
    s.add_argument(
        "--engine", choices=["onnx", "tflite"], help="runtime (default: onnx if the bundle has it)"
    )
    s.add_argument("--precision", choices=["fp32", "int8"], help="model precision (default int8)")
    s.add_argument(
        "--block-ms",
        type=float,
        default=10.0,
        help="block size fed per call, as a device would (10)",
    )
    s.add_argument(
        "--update-s", type=float, help="seconds between A/D/V updates (default: the bundle's)"
    )
    s.add_argument(
        "--json",
        action="store_true",
        help="print events as JSON lines (fields arousal, dominance, valence)",
    )
    s.add_argument(
        "--plot", type=Path, help="also draw A/D/V over time into this PNG (needs matplotlib)"
    )


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 and its rate: stdlib WAV reader, or soundfile for other formats where installed."""
    from devices.audio import read_wav

    if path.suffix.lower() == ".wav":
        try:
            audio = read_wav(path)
            return audio.mono(), audio.rate_hz
        except SourceError:
            if not path.is_file():
                raise
    try:
        import soundfile as sf
    except ImportError:
        raise SourceError(
            f"{path}: only PCM WAV can be read without the 'audio' extra (soundfile)"
        ) from None
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise SourceError(f"{path} is not readable audio ({exc})") from exc
    return data.mean(axis=1), int(rate)


def plot(events: list, path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'affect-edge[plot]'") from None
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    t = [e.end_s for e in events]
    for name, color in (
        ("arousal", "tab:red"),
        ("dominance", "tab:green"),
        ("valence", "tab:blue"),
    ):
        ax.plot(
            t,
            [e.values.get(name, np.nan) for e in events],
            marker="o",
            ms=3,
            label=name,
            color=color,
        )
    for e in events:
        if not e.voiced:
            ax.axvspan(e.start_s, e.end_s, color="0.9", zorder=0)
    ax.set(xlabel="time (s)", ylabel="estimate (0-1)", ylim=(0, 1), title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from edge.pipelines.speech import SpeechPipeline

    bundle_path = args.bundle or default_bundle(DEFAULT_SPEECH_BUNDLE)
    if args.bundle is None and not (bundle_path / "manifest.json").is_file():
        raise ConfigError(
            f"no default speech bundle at {bundle_path}; build it with scripts/build_default_speech.py "
            "or pass --bundle"
        )
    bundle = load_bundle(bundle_path)
    samples, rate = read_audio(args.audio)
    if samples.size == 0:
        raise SourceError(f"{args.audio} holds no samples")
    pipeline = SpeechPipeline(
        bundle,
        input_rate_hz=rate,
        engine=args.engine,
        precision=args.precision,
        update_s=args.update_s,
    )
    block = max(1, round(rate * args.block_ms / 1000))
    events = []
    for start in range(0, samples.size, block):
        events += pipeline.process_block(samples[start : start + block])
    events += pipeline.flush()
    if args.plot:
        plot(
            events, args.plot, f"{args.audio.name} ({bundle.manifest.name}, {pipeline.engine.name})"
        )
    if args.json:
        for e in events:
            render.line(json.dumps(e.to_dict()))
        return 0
    if not events:
        render.line(
            f"{args.audio}: {samples.size / rate:.2f} s is too short for an estimate (at least 0.3 s of audio)"
        )
        return 0
    rows = [
        [
            f"{e.start_s:5.2f}-{e.end_s:5.2f} s",
            *(
                f"{e.values[k]:.3f}" if e.values else "-"
                for k in ("arousal", "dominance", "valence")
            ),
            f"{100 * e.quality['speech_ratio']:.0f}%",
            "" if e.voiced else "held (too little speech)",
        ]
        for e in events
    ]
    render.table(
        f"{args.audio.name}: {bundle.manifest.name} on {pipeline.engine.name}",
        ["window", "arousal", "dominance", "valence", "speech", "note"],
        rows,
    )
    latencies = [e.latency_ms for e in events if e.voiced]
    if latencies:
        render.line(
            f"update latency (front end + model): median {np.median(latencies):.3f} ms over {len(latencies)} updates"
        )
    if pipeline.nonfinite_replaced:
        render.line(f"note: {pipeline.nonfinite_replaced} NaN/Inf samples were replaced by 0")
    if args.plot:
        render.line(f"plot written to {args.plot}")
    return 0
