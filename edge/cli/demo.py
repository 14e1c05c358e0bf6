"""`affect-edge demo`: the main job on the bundled sample inputs.

Speech: the default speech bundle estimates arousal, dominance and valence over the bundled clip,
streamed in 10 ms blocks as a device would. Then the front ends: the log-mel summary of the clip,
and the EEG front end over a synthetic 14-channel recording with an alpha burst (clearly
labelled as synthetic: no EEG model ships yet).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from edge.cli import features, render
from edge.dsp import BandDifferentialEntropy

EMOTIV_14 = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")


def sample_clip() -> Path:
    return Path(str(resources.files("edge").joinpath("data", "samples", "speech_en.wav")))


def synthetic_eeg(rate_hz: int = 128, seconds: int = 10, seed: int = 0) -> np.ndarray:
    """Volts, (14, samples): 1/f-like noise, 50 Hz hum, a 10 Hz alpha burst on O1/O2 in 4-8 s."""
    rng = np.random.default_rng(seed)
    n = rate_hz * seconds
    white = rng.standard_normal((len(EMOTIV_14), n))
    spectrum = np.fft.rfft(white, axis=1) / np.sqrt(
        np.maximum(np.fft.rfftfreq(n, 1 / rate_hz), 1.0)
    )
    x = np.fft.irfft(spectrum, n=n, axis=1) * 10e-6 / 0.2
    t = np.arange(n) / rate_hz
    x += 5e-6 * np.sin(2 * np.pi * 50 * t)
    burst = ((t >= 4) & (t < 8)) * 20e-6 * np.sin(2 * np.pi * 10 * t)
    for name in ("O1", "O2"):
        x[EMOTIV_14.index(name)] += burst
    return x


def eeg_demo() -> list[list[str]]:
    rate = 128
    x = synthetic_eeg(rate)
    de = BandDifferentialEntropy(rate, len(EMOTIV_14), prefilters=["bandpass_1_45", "notch_50"])
    rows = []
    occipital = [EMOTIV_14.index("O1"), EMOTIV_14.index("O2")]
    frontal = [EMOTIV_14.index(c) for c in ("AF3", "F3", "F4", "AF4")]
    for start in range(0, x.shape[1], rate // 4):  # 250 ms blocks, as a headset would deliver
        for window in de.process(x[:, start : start + rate // 4]):
            second = len(rows) + 1
            alpha = de.band_names.index("alpha")
            rows.append(
                [
                    f"{second - 1}-{second} s",
                    f"{window[occipital, alpha].mean():.2f}",
                    f"{window[frontal, alpha].mean():.2f}",
                ]
            )
    return rows


def speech_demo(clip: Path) -> None:
    from edge.cli import run

    bundle = run.default_bundle(run.DEFAULT_SPEECH_BUNDLE)
    if not (bundle / "manifest.json").is_file():
        render.line(
            f"(no default speech bundle at {bundle}: build it with scripts/build_default_speech.py)"
        )
        return
    m = run.load_bundle(bundle).manifest
    render.line(
        f"Speech: {m.name} ({m.params:,} parameters, int8), taught by {m.provenance.teacher.split(' (')[0]};"
    )
    render.line(
        f"licence: {m.provenance.licence}. The clip is synthetic speech: a calm sentence, then an excited one."
    )
    run.run(
        argparse.Namespace(
            audio=clip,
            bundle=bundle,
            engine=None,
            precision=None,
            block_ms=10.0,
            update_s=None,
            json=False,
            plot=None,
        )
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print the speech summary as JSON")


def run(args: argparse.Namespace) -> int:
    clip = sample_clip()
    opts = argparse.Namespace(
        sample_rate=16000,
        n_fft=512,
        hop_ms=10.0,
        n_mels=40,
        block_ms=10.0,
        output=None,
        json=args.json,
    )
    summary = features.summarize(clip, opts)
    if args.json:
        render.emit_json(summary)
        return 0
    render.line("affect-edge demo: on-device affect from the bundled sample inputs.")
    render.line()
    speech_demo(clip)
    render.line()
    features.show(summary)
    render.line()
    render.line("EEG front end on SYNTHETIC data (14 ch @ 128 Hz, fed in 250 ms blocks): 1-45 Hz")
    render.line(
        "band-pass + 50 Hz notch, then alpha (8-13 Hz) differential entropy per 1 s window."
    )
    render.line(
        "A 10 Hz burst is injected on O1/O2 during 4-8 s; the occipital column should rise."
    )
    render.table("alpha differential entropy (nats)", ["window", "O1/O2", "frontal"], eeg_demo())
    return 0
