"""What noise does to the speech estimates: white noise at 30 to 0 dB SNR on the sample clip.

For each SNR: the mean arousal, dominance and valence over the clip's scored windows, how many
windows were scored, and the mean `snr_db` the pipeline reports in each event (its estimate of
speech level over the noise floor). The noise is Gaussian, seeded, scaled to the clip's mean
power over its speech (voiced) samples, so that "10 dB" means speech 10 dB above the noise.
"""

from __future__ import annotations

import numpy as np

from bench import report
from bench.timing import machine
from devices.audio import read_audio
from edge.pipelines.speech import SpeechPipeline
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle
from edge.samples import sample_clip
from tests.streams import audio_frames, run_stream

SNRS_DB = (None, 30, 20, 10, 5, 0)
ADV = ("arousal", "dominance", "valence")


def with_noise(x: np.ndarray, snr_db: float | None, seed: int = 0) -> np.ndarray:
    if snr_db is None:
        return x
    active = np.abs(x) > 0.01 * np.max(np.abs(x))
    power = float(np.mean(x[active] ** 2))
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(
        power / 10 ** (snr_db / 10)
    )
    return (x + noise).astype(np.float32)


def run(bundle, x: np.ndarray, rate: int) -> list:
    with SpeechPipeline(bundle, input_rate_hz=rate) as pipe:
        return run_stream(pipe, audio_frames(x, rate, rate // 100))


def main(quick: bool = False) -> None:
    bundle = load_bundle(default_bundle("speech"))
    x, rate = read_audio(sample_clip())
    x = x[0]
    rows, data = [], []
    clean_events: list = []
    for snr in SNRS_DB:
        events = run(bundle, with_noise(x, snr), rate)
        clean_events = clean_events or events
        scored = [e for e in events if e.updated]
        # the same windows, clean and noisy: the model's shift without the change of which
        # windows are still scored
        paired = [
            e.values["arousal"] - c.values["arousal"]
            for e, c in zip(events, clean_events, strict=False)
            if e.updated and c.updated
        ]
        means = {k: float(np.mean([e.values[k] for e in scored])) if scored else None for k in ADV}
        est = float(np.mean([e.quality["snr_db"] for e in events]))
        noisy = sum(1 for e in events if e.quality.get("noisy"))
        label = "clean" if snr is None else f"{snr} dB"
        rows.append(
            [
                label,
                f"{len(scored)} of {len(events)}",
                f"{noisy}",
                *(f"{means[k]:.3f}" if means[k] is not None else "-" for k in ADV),
                f"{est:.1f} dB",
            ]
        )
        data.append(
            {
                "snr_db": snr,
                "scored": len(scored),
                "events": len(events),
                **means,
                "estimated_snr_db": est,
                "paired_arousal_shift": float(np.mean(paired)) if paired else None,
            }
        )
    clean = data[0]["arousal"]
    notes = [
        f"The sample clip ({x.size / rate:.2f} s, synthetic speech) with seeded white noise; the "
        f"default speech bundle ({bundle.manifest.name}), int8 ONNX Runtime.",
        "Mean arousal moves with noise: "
        + ", ".join(
            f"{d['arousal'] - clean:+.3f} at {d['snr_db']} dB"
            for d in data[1:]
            if d["arousal"] is not None
        )
        + " (means over the windows still scored); over the same windows scored clean: "
        + ", ".join(
            f"{d['paired_arousal_shift']:+.3f} at {d['snr_db']} dB"
            for d in data[1:]
            if d["paired_arousal_shift"] is not None
        )
        + ". Windows whose estimated SNR is under 10 dB are held "
        "and flagged `noisy` rather than scored; every event carries `snr_db`.",
        "estimated SNR: the mean of the events' `quality.snr_db` (speech frames' mean log energy over "
        "the noise floor). On the clean synthetic clip the floor is digital silence, hence the large value.",
    ]
    path = report.write_table(
        "noise",
        "Speech estimates under white noise",
        "make bench",
        machine(),
        "One run per SNR on the same clip and noise seed.",
        ["SNR", "windows scored", "flagged noisy", *ADV, "estimated SNR"],
        rows,
        {"rows": data},
        notes,
    )
    print(path.read_text())
