"""`affect-edge features`: the speech front end over a WAV file, streamed as a device would."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from devices.audio import read_wav
from edge.cli import render
from edge.dsp import LogMelConfig, Resampler, StreamingLogMel


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", type=Path, help="PCM WAV file (any rate; stereo is mixed to mono)")
    p.add_argument(
        "--sample-rate", type=int, default=16000, help="front-end rate in Hz (default 16000)"
    )
    p.add_argument("--n-fft", type=int, default=512, help="FFT size in samples (default 512)")
    p.add_argument(
        "--hop-ms", type=float, default=10.0, help="hop between frames in ms (default 10)"
    )
    p.add_argument("--n-mels", type=int, default=64, help="mel bands (default 64)")
    p.add_argument(
        "--block-ms", type=float, default=10.0, help="audio block size fed per call (default 10)"
    )
    p.add_argument(
        "-o", "--output", type=Path, help="save the log-mel frames as .npy (frames x n_mels)"
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of tables")


def stream_features(samples: np.ndarray, rate_hz: int, config: LogMelConfig, block_ms: float):
    """Resample and log-mel a signal in blocks; return frames and the per-block cost in seconds."""
    resampler = Resampler(rate_hz, config.sample_rate)
    front = StreamingLogMel(config)
    block = max(1, round(rate_hz * block_ms / 1000))
    frames, costs = [], []
    for start in range(0, samples.size, block):
        t0 = time.perf_counter()
        out = front.process(resampler.process(samples[start : start + block]))
        costs.append(time.perf_counter() - t0)
        frames.append(out)
    frames.append(front.process(resampler.flush()))
    return np.concatenate(frames), np.asarray(costs)


def summarize(path: Path, args: argparse.Namespace) -> dict:
    audio = read_wav(path)
    config = LogMelConfig(
        sample_rate=args.sample_rate,
        n_fft=args.n_fft,
        hop_length=round(args.sample_rate * args.hop_ms / 1000),
        n_mels=args.n_mels,
    )
    frames, costs = stream_features(audio.mono(), audio.rate_hz, config, args.block_ms)
    # Frame energy: log of the summed mel power, a loudness contour.
    energy = np.log(np.exp(frames.astype(np.float64)).sum(axis=1))
    hop_s = config.hop_length / config.sample_rate
    per_100ms = max(1, round(0.1 / hop_s))
    contour = [float(energy[i : i + per_100ms].mean()) for i in range(0, energy.size, per_100ms)]
    active = energy > energy.max() - 4.6  # within ~20 dB of the loudest frame
    if args.output:
        np.save(args.output, frames)
    return {
        "file": str(path),
        "duration_s": round(audio.duration_s, 3),
        "rate_hz": audio.rate_hz,
        "channels": audio.n_channels,
        "front_end": config.to_dict(),
        "frames": int(frames.shape[0]),
        "active_ratio": round(float(active.mean()), 3) if frames.size else 0.0,
        "block_ms": args.block_ms,
        "block_cost_us": {
            "median": round(float(np.median(costs)) * 1e6, 2),
            "p99": round(float(np.percentile(costs, 99)) * 1e6, 2),
        },
        "contour_100ms": [round(v, 3) for v in contour],
        "saved": str(args.output) if args.output else None,
    }


def show(summary: dict) -> None:
    fe = summary["front_end"]
    cost = summary["block_cost_us"]
    render.table(
        f"log-mel of {Path(summary['file']).name}",
        ["quantity", "value"],
        [
            [
                "input",
                f"{summary['duration_s']} s, {summary['rate_hz']} Hz, {summary['channels']} ch",
            ],
            [
                "front end",
                f"{fe['sample_rate']} Hz, n_fft {fe['n_fft']}, hop {fe['hop_length']}, "
                f"{fe['n_mels']} mels {fe['fmin']:.0f}-{fe['fmax']:.0f} Hz",
            ],
            ["frames", summary["frames"]],
            ["frames within 20 dB of peak", f"{100 * summary['active_ratio']:.0f}%"],
            [
                f"cost per {summary['block_ms']:g} ms block",
                f"median {cost['median']} us, p99 {cost['p99']} us (resample + log-mel)",
            ],
        ],
    )
    render.line("energy, 100 ms per character:")
    render.line("  " + render.sparkline(summary["contour_100ms"]))
    if summary["saved"]:
        render.line(f"saved frames to {summary['saved']}")


def run(args: argparse.Namespace) -> int:
    summary = summarize(args.audio, args)
    if args.json:
        render.emit_json(summary)
    else:
        show(summary)
    return 0
