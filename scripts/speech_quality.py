"""How often the speech pipeline's garbage flags (`not_speech`, `clipped`, `out_of_range`) hold
real speech, and how much garbage they catch: the figures behind the thresholds in
edge/frontends/speech.py and edge/pipelines/speech.py.

Real speech: every recording of the shared corpora (../shared/data: emodb-train, ravdess-train,
nemo-train), streamed through the real SpeechPipeline in 10 ms blocks as `run speech` does. A
window counts when the voice gate found enough speech in it to score it before these flags
existed (speech_ratio >= 0.3, not noisy); the figure is the share of those now held.
Garbage: noise and tone bursts, speech clipped by 40 dB of gain, speech at 1e6 full scale.

Usage: python scripts/speech_quality.py [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "soundfile")
import numpy as np  # noqa: E402

from devices.audio import AudioFileSource  # noqa: E402
from devices.audio.file import read_audio  # noqa: E402
from devices.frame import Frame  # noqa: E402
from edge.pipelines.speech import SpeechPipeline  # noqa: E402
from edge.runtime import load_bundle  # noqa: E402
from edge.runtime.registry import DEFAULTS, find_bundle  # noqa: E402
from edge.stream import EventList, run  # noqa: E402

CORPORA = {
    "emodb-train": "wav/*.wav",
    "ravdess-train": "audio/*.flac",
    "nemo-train": "audio/*.ogg",
}
FLAGS = ("not_speech", "clipped", "out_of_range")
RATE = 16000


def stream(bundle, x: np.ndarray, rate: int) -> list:
    block = rate // 100
    with SpeechPipeline(bundle, input_rate_hz=rate) as pipe:
        events = []
        for i in range(0, len(x), block):
            chunk = np.ascontiguousarray(x[i : i + block], dtype=np.float32)[None, :]
            events += pipe.push(Frame(chunk, i / rate, rate, ("mono",), "audio", "x", i // block))
        return events + list(pipe.flush())


def file_events(bundle, path: Path) -> list:
    with (
        AudioFileSource(path, block_s=0.01, mono=True) as src,
        SpeechPipeline(bundle, input_rate_hz=int(src.rate_hz)) as pipe,
    ):
        seen = EventList()
        run(src, pipe, (seen,), signals=False)
        return seen.events


def scored_before(e) -> bool:
    q = e.quality
    return q["speech_ratio"] >= 0.3 and not q.get("noisy")


def garbage(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def coloured(n: int, power: float) -> np.ndarray:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / RATE)
        spectrum[1:] /= f[1:] ** (power / 2)
        spectrum[0] = 0
        y = np.fft.irfft(spectrum, n)
        return y / np.abs(y).max()

    def bursts(make, on: float = 0.3, off: float = 0.3, repeat: int = 8) -> np.ndarray:
        parts = []
        for _ in range(repeat):
            parts += [make(int(on * RATE)), np.zeros(int(off * RATE))]
        return np.concatenate(parts)

    t = np.arange(5 * RATE) / RATE
    clip, rate = read_audio(ROOT / "edge/data/samples/speech_en.wav")
    clip = clip[0]
    return {
        "pink-noise bursts (sox synth 0.3 pinknoise vol 0.8 pad 0 0.3 repeat 8)": bursts(
            lambda n: 0.8 * coloured(n, 1)
        ),
        "white-noise bursts": bursts(lambda n: 0.5 * coloured(n, 0)),
        "brown-noise bursts": bursts(lambda n: 0.8 * coloured(n, 2)),
        "pink-noise bursts of 1 s": bursts(lambda n: 0.5 * coloured(n, 1), 1.0, 0.5, 4),
        "1 kHz tone bursts": bursts(lambda n: 0.5 * np.sin(2 * np.pi * 1000 * np.arange(n) / RATE)),
        "a steady 440 Hz sine": 0.5 * np.sin(2 * np.pi * 440 * t),
        "speech with 40 dB of gain (clipped)": (np.clip(clip * 100, -1, 1), rate),
        "speech at 1e6 full scale": (clip * 1e6, rate),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, help="recordings per corpus (default: all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    bundle = load_bundle(find_bundle(DEFAULTS["speech"]))
    data = ROOT.parent / "shared" / "data"
    report: dict = {"speech": {}, "garbage": {}}
    for name, pattern in CORPORA.items():
        files = sorted((data / name).glob(pattern))[: args.limit]
        if not files:
            continue
        counts = {"recordings": len(files), "windows": 0, "held": 0, **dict.fromkeys(FLAGS, 0)}
        for path in files:
            for e in file_events(bundle, path):
                if not scored_before(e):
                    continue
                counts["windows"] += 1
                counts["held"] += not e.updated
                for flag in FLAGS:
                    counts[flag] += bool(e.quality.get(flag))
        counts["held_share"] = round(counts["held"] / max(1, counts["windows"]), 5)
        report["speech"][name] = counts
    for name, signal in garbage(np.random.default_rng(0)).items():
        x, rate = signal if isinstance(signal, tuple) else (signal, RATE)
        events = stream(bundle, np.asarray(x, np.float32), int(rate))
        report["garbage"][name] = {
            "windows": len(events),
            "scored": sum(e.updated for e in events),
            **{f: sum(bool(e.quality.get(f)) for e in events) for f in FLAGS},
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("| real speech | recordings | windows scored before | held now | not_speech | clipped |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, c in report["speech"].items():
        print(
            f"| {name} | {c['recordings']:,} | {c['windows']:,} | {c['held']} "
            f"({100 * c['held_share']:.2f}%) | {c['not_speech']} | {c['clipped']} |"
        )
    print()
    print("| garbage | windows | scored | not_speech | clipped | out_of_range |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, c in report["garbage"].items():
        print(
            f"| {name} | {c['windows']} | {c['scored']} | {c['not_speech']} | {c['clipped']} "
            f"| {c['out_of_range']} |"
        )


if __name__ == "__main__":
    main()
