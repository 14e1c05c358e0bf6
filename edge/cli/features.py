"""`affect-edge features FILE`: a recording through the speech front end, summarised.

The file is read as `run speech` reads it (`AudioFileSource`: any format libsndfile reads, mixed
down to mono) and streamed through the speech bundle's own front end (resampler, DC blocker,
log-mel), so what it shows is what the model sees before window normalisation. Memory stays
bounded for any length: frames are summarised as they come (and, with -o, written to a
memory-mapped .npy of the known length).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from devices.audio import AudioFileSource
from edge.cli import render
from edge.cli.args import audio_block_ms, positive_int, writable_file
from edge.errors import ConfigError, SourceError
from edge.frontends.speech import ABSOLUTE_FLOOR, SpeechFrontEnd, n_frames_for
from edge.runtime import load_bundle
from edge.runtime.latency import LatencyStats
from edge.runtime.registry import DEFAULTS, find_bundle
from edge.runtime.specs import LogMelSpec

HELP = "stream a recording through the speech front end and summarise the log-mel it gives"
#: The loudness contour is drawn with at most this many characters.
CONTOUR_CHARS = 100
_LN_20DB = math.log(100.0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", type=Path, help="audio file (WAV, FLAC, Ogg, MP3, ...; mixed to mono)")
    p.add_argument(
        "--bundle",
        help=f"speech bundle whose front end to run (default: {DEFAULTS['speech']})",
    )
    p.add_argument("--n-mels", type=positive_int, help="mel bands (default: the bundle's)")
    p.add_argument(
        "--block-ms",
        type=audio_block_ms,
        default=10.0,
        help="audio block fed per call (default 10)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=writable_file((".npy",), ".npy"),
        help="save the log-mel frames as .npy (frames x n_mels, float32)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of tables")


def front_end_spec(bundle: str | None, n_mels: int | None) -> LogMelSpec:
    spec = load_bundle(find_bundle(bundle or DEFAULTS["speech"])).manifest.front_end
    if not isinstance(spec, LogMelSpec):
        raise ConfigError(f"bundle {bundle} has no log-mel front end")
    if n_mels is not None:
        try:
            spec = LogMelSpec.from_dict({**spec.to_dict(), "n_mels": n_mels})
        except Exception as exc:
            raise ConfigError(f"--n-mels {n_mels}: {exc}") from None
    return spec


def summarize(path: Path, spec: LogMelSpec, block_ms: float, output: Path | None = None) -> dict:
    """Stream a file through the front end; return the summary (and write frames to `output`)."""
    with AudioFileSource(path, block_s=block_ms / 1000, mono=True) as src:
        rate = int(src.rate_hz)
        if src.n_samples == 0:
            raise SourceError(f"{path} holds no samples ({src.format}, {rate} Hz)")
        front = SpeechFrontEnd(spec, rate, ring_frames=4096)
        expected = n_frames_for(src.n_samples, rate, spec) if src.n_samples else None
        saved = None
        if output is not None and expected:
            saved = np.lib.format.open_memmap(
                output, mode="w+", dtype=np.float32, shape=(expected, spec.n_mels)
            )
        elif output is not None:
            raise SourceError(f"{path}: the format does not say its length; -o needs it")
        per_bin = max(1, math.ceil((expected or 1) / CONTOUR_CHARS))
        contour, energies = [], []
        costs = LatencyStats()
        done = 0

        def take(made: int) -> None:
            nonlocal done
            total = front.total_frames
            rows = np.arange(total - made, total) % front.ring_frames
            if saved is not None:
                saved[done : done + made] = front.frames[rows]
            energies.append(front.energy[rows].copy())
            done += made

        for frame in src:
            t0 = time.perf_counter()
            front.feed(frame.data)
            while made := front.pull(front.ring_frames):
                take(made)
            costs.record(time.perf_counter() - t0)
        front.finish()
        while made := front.pull(front.ring_frames):
            take(made)
        duration = src.samples_read / rate
        channels = src.file_channels
        fmt = src.format
    energy = np.concatenate(energies) if energies else np.zeros(0)
    if saved is not None:
        saved.flush()
        del saved
    for i in range(0, energy.size, per_bin):
        contour.append(float(energy[i : i + per_bin].mean()))
    peak = float(energy.max()) if energy.size else -np.inf
    silent = not energy.size or peak <= ABSOLUTE_FLOOR
    active = 0.0 if silent else float(np.mean(energy > max(peak - _LN_20DB, ABSOLUTE_FLOOR)))
    latency = costs.summary()
    return {
        "file": str(path),
        "format": fmt,
        "duration_s": round(duration, 3),
        "rate_hz": rate,
        "channels": channels,
        "front_end": spec.to_dict(),
        "frames": int(energy.size),
        "silent": silent,
        "active_ratio": round(active, 3),
        "block_ms": block_ms,
        "block_cost_us": {
            "median": round(latency.get("p50_ms", 0.0) * 1e3, 2),
            "p99": round(latency.get("p99_ms", 0.0) * 1e3, 2),
        },
        "contour_s_per_point": round(per_bin * spec.hop_s, 3),
        "contour": [round(v, 3) for v in contour],
        "nonfinite_replaced": front.nonfinite_replaced,
        "saved": str(output) if output else None,
    }


def show(summary: dict) -> None:
    fe = summary["front_end"]
    cost = summary["block_cost_us"]
    activity = (
        "none: the recording is silent (no frame above the absolute floor)"
        if summary["silent"]
        else f"{100 * summary['active_ratio']:.0f}% of frames within 20 dB of the loudest"
    )
    render.table(
        f"log-mel of {Path(summary['file']).name}",
        ["quantity", "value"],
        [
            [
                "input",
                f"{summary['duration_s']} s, {summary['rate_hz']} Hz, {summary['channels']} ch "
                f"({summary['format']})",
            ],
            [
                "front end",
                f"{fe['sample_rate']} Hz, {fe['win_length']}-sample window in a {fe['n_fft']}-point "
                f"FFT, hop {fe['hop_length']}, {fe['n_mels']} mels {fe['fmin']:g}-{fe['fmax']:g} Hz"
                + (f", DC blocker pole {fe['dc_pole']}" if fe.get("dc_pole") else ""),
            ],
            ["frames", f"{summary['frames']:,}"],
            ["activity", activity],
            [
                f"cost per {summary['block_ms']:g} ms block",
                f"median {cost['median']} us, p99 {cost['p99']} us (resample + filter + log-mel)",
            ],
        ],
    )
    if summary["nonfinite_replaced"]:
        render.line(f"note: {summary['nonfinite_replaced']} NaN/Inf samples were replaced by 0")
    if summary["contour"] and not summary["silent"]:
        render.line(f"loudness, {summary['contour_s_per_point']:g} s per character:")
        render.line("  " + render.sparkline(summary["contour"]))
    if summary["saved"]:
        render.line(f"saved frames to {summary['saved']}")


def run(args: argparse.Namespace) -> int:
    spec = front_end_spec(args.bundle, args.n_mels)
    summary = summarize(args.audio, spec, args.block_ms, args.output)
    if args.json:
        render.emit_json(summary)
    else:
        show(summary)
    return 0
