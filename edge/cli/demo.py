"""`affect-edge demo`: the main job on the bundled sample inputs (what `make demo` runs).

Speech: the default speech bundle estimates arousal, dominance and valence over the bundled clip,
streamed in 10 ms blocks as a device would, then the clip's log-mel through the bundle's own front
end. Face: the default face bundles on the bundled photograph (found, cropped, expression
probabilities). EEG: the EEG front end over a synthetic 14-channel recording with an alpha burst (clearly
labelled synthetic: no EEG model ships yet). `--json` prints all of it as one JSON document.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

import numpy as np

from edge.cli import features, render
from edge.cli import run as run_command
from edge.dsp import BandDifferentialEntropy
from edge.runtime import load_bundle
from edge.runtime.registry import default_bundle

HELP = "run the default models on the bundled sample inputs (what `make demo` runs)"
EMOTIV_14 = ("AF3", "F7", "F3", "FC5", "T7", "P7", "O1", "O2", "P8", "T8", "FC6", "F4", "F8", "AF4")


def sample_clip() -> Path:
    return Path(str(resources.files("edge").joinpath("data", "samples", "speech_en.wav")))


def sample_face() -> Path:
    return Path(str(resources.files("edge").joinpath("data", "samples", "face_astronaut.jpg")))


def face_demo() -> tuple[list, dict] | None:
    """The default face bundles on the bundled photograph; None where OpenCV is not installed."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return None
    from edge.cli.run_face import face_events

    options = argparse.Namespace(max_frames=None, detect_every=1, smoothing=1.0)
    return face_events(str(sample_face()), options)


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


def eeg_alpha() -> list[dict]:
    """Alpha (8-13 Hz) differential entropy per 1 s window, occipital vs frontal electrodes."""
    rate = 128
    x = synthetic_eeg(rate)
    de = BandDifferentialEntropy(rate, len(EMOTIV_14), prefilters=["bandpass_1_45", "notch_50"])
    occipital = [EMOTIV_14.index("O1"), EMOTIV_14.index("O2")]
    frontal = [EMOTIV_14.index(c) for c in ("AF3", "F3", "F4", "AF4")]
    alpha = de.band_names.index("alpha")
    rows = []
    for start in range(0, x.shape[1], rate // 4):  # 250 ms blocks, as a headset would deliver
        for window in de.process(x[:, start : start + rate // 4]):
            second = len(rows)
            rows.append(
                {
                    "start_s": second,
                    "end_s": second + 1,
                    "occipital_alpha_de": round(float(window[occipital, alpha].mean()), 3),
                    "frontal_alpha_de": round(float(window[frontal, alpha].mean()), 3),
                }
            )
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        action="store_true",
        help="print everything (speech events, log-mel summary, EEG windows) as one JSON document",
    )


def run(args: argparse.Namespace) -> int:
    clip = sample_clip()
    bundle = load_bundle(default_bundle("speech"))
    m = bundle.manifest
    events, info = run_command.speech_events(clip, bundle)
    summary = features.summarize(clip, m.front_end, 10.0)
    eeg = eeg_alpha()
    face = face_demo()
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
                    "description": "EEG front end on a synthetic 14-channel recording, 10 Hz burst on "
                    "O1/O2 during 4-8 s; alpha differential entropy per 1 s window",
                    "windows": eeg,
                },
            }
        )
        return 0
    render.line("affect-edge demo: on-device affect from the bundled sample inputs.")
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
    render.line("EEG front end on SYNTHETIC data (14 ch @ 128 Hz, fed in 250 ms blocks): 1-45 Hz")
    render.line(
        "band-pass + 50 Hz notch, then alpha (8-13 Hz) differential entropy per 1 s window."
    )
    render.line(
        "A 10 Hz burst is injected on O1/O2 during 4-8 s; the occipital column should rise."
    )
    render.table(
        "alpha differential entropy (nats)",
        ["window", "O1/O2", "frontal"],
        [
            [
                f"{w['start_s']}-{w['end_s']} s",
                f"{w['occipital_alpha_de']:.2f}",
                f"{w['frontal_alpha_de']:.2f}",
            ]
            for w in eeg
        ],
    )
    return 0
