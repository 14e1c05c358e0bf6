"""Rebuild the default speech bundle (edge/models/speech-adv) from scratch, and say what it measures.

1. scripts/train_speech_teacher.py: the two-corpus teacher, judged on speaker-disjoint folds
   (skipped when build/teachers/speech_report.json exists; --retrain forces it).
2. scripts/build_speech_student.py: the student, distilled with device augmentation, exported
   to ONNX and TFLite fp32/int8 with reference examples (skipped when build/speech-v2/bundle
   exists; --retrain forces it).
3. The student judged on the held-out speakers on the device path (distill/evaluate.py) and on
   the sample clip under white noise; these figures and the teacher's go into the manifest's
   `measured.evaluation`, and the bundle replaces edge/models/speech-adv.
Needs ../shared (EmoDB and RAVDESS) and the train/export extras; about 15 minutes on 2 cores.
Usage: python scripts/build_default_speech.py [--shared ../shared] [--retrain]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "edge" / "models" / "speech-adv"
BUILD = ROOT / "build"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args()
    report = BUILD / "teachers" / "speech_report.json"
    if args.retrain or not report.is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "train_speech_teacher.py"),
                "--shared",
                str(args.shared),
            ],
            check=True,
        )
    staging = BUILD / "speech-v2" / "bundle"
    if args.retrain or not staging.is_dir():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "build_speech_student.py"),
                "--shared",
                str(args.shared),
            ],
            check=True,
        )

    from bench.noise import SNRS_DB, run, with_noise
    from devices.audio import read_audio
    from distill.evaluate import HELD_OUT, all_but, evaluate
    from edge.cli.demo import sample_clip
    from edge.runtime import load_bundle, write_bundle

    bundle = load_bundle(staging)
    seen = all_but(args.shared, HELD_OUT)
    rows = [
        r
        for r in evaluate(args.shared, {"student": (bundle, seen)})["rows"]
        if r["model"] == "student"
    ]
    x, rate = read_audio(sample_clip())
    noise = {}
    for snr in SNRS_DB:
        events = run(bundle, with_noise(x[0], snr), rate)
        scored = [e.values["arousal"] for e in events if e.updated]
        noise["clean" if snr is None else f"{snr} dB"] = {
            "mean_arousal": round(float(np.mean(scored)), 4) if scored else None,
            "windows": len(events),
            "flagged_noisy": sum(1 for e in events if e.quality.get("noisy")),
        }
    teacher = json.loads(report.read_text())
    manifest = bundle.manifest.to_dict()
    manifest["version"] = "2"
    manifest["description"] = (
        "speech_adv student distilled from a two-corpus (EmoDB + RAVDESS) log-mel CNN teacher with "
        "device augmentation; see measured.evaluation"
    )
    manifest["measured"]["evaluation"] = {
        "held_out_speakers": {k: list(v) for k, v in HELD_OUT.items()},
        "student_held_out": rows,
        "teacher_leave_speakers_out_and_held_out": teacher["rows"],
        "teacher_folds": teacher["folds"],
        "sample_clip_white_noise": noise,
        "how": "distill/evaluate.py; scripts/build_default_speech.py",
    }
    files = {m.file: bundle.model_bytes(m) for m in bundle.manifest.models}
    files[bundle.manifest.reference.file] = (staging / bundle.manifest.reference.file).read_bytes()
    final = BUILD / "speech-v2" / "final"
    write_bundle(final, json.loads(json.dumps(manifest, default=float)), files, overwrite=True)
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(final, OUT)
    print(json.dumps({"student_held_out": rows, "noise": noise}, indent=2, default=float))


if __name__ == "__main__":
    main()
