"""Rebuild the default speech bundle (edge/models/speech-adv) from scratch.

1. The teacher: the stronger of the EmoDB-trained CNN and the MFCC-CNN by leave-one-speaker-out
   CCC on the EmoDB speakers (scripts/train_emodb_teacher.py writes build/teachers/report.json;
   it is run first if that report is missing).
2. Distil speech_adv from it over the EmoDB speakers' audio (4 augmented copies per clip),
   holding out speaker 03 for validation: student-vs-teacher CCC is measured on that speaker only.
3. Export ONNX and TFLite, fp32 and int8, calibrated on EmoDB audio, checked against the
   hearing-aid co-processor profile's budgets, into edge/models/speech-adv.
Needs ../shared (EmoDB speakers, the MFCC-CNN teacher) and the train/export extras.
Usage: python scripts/build_default_speech.py [--shared ../shared] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "edge" / "models" / "speech-adv"
VAL_SPEAKER = "03"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from distill.speech import DistillConfig, distill_speech
    from distill.train import FitConfig
    from quant.build import ExportOptions, build_bundle

    report_path = args.build / "teachers" / "report.json"
    if not report_path.is_file():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "scripts" / "train_emodb_teacher.py"),
                "--shared",
                str(args.shared),
                "--out",
                str(args.build / "teachers"),
            ],
            check=True,
        )
    teachers = json.loads(report_path.read_text())
    spec = {
        "emodb-cnn": f"emodb:{args.build / 'teachers' / 'emodb-cnn.pt'}",
        "mfcc-cnn": f"mfcc-cnn:{args.shared / 'teachers' / 'speech-mfcc-cnn'}",
    }[teachers["strongest"]]
    audio = args.shared / "data" / "emodb-train" / "wav"
    cfg = DistillConfig(
        teacher=spec,
        audio=audio,
        cache=args.build / "speech" / "labels",
        speaker_regex=r"^(\d\d)",
        val_speakers=(VAL_SPEAKER,),
        name="speech-adv",
        fit=FitConfig(epochs=args.epochs, steps_per_epoch=30, crop_frames=100, patience=10),
    )
    ckpt, report = distill_speech(
        cfg, on_epoch=lambda e, loss, v: logging.info("epoch %d loss %.4f val %s", e, loss, v)
    )
    ckpt.provenance["data"] = (
        "EmoDB (Burkhardt et al. 2005), speakers 03, 08, 09, 10 of ../shared/data/emodb-train: "
        "188 acted German utterances, each with 4 augmented copies (speed, reverb, noise, gain); "
        f"speaker {VAL_SPEAKER} held out for validation"
    )
    ckpt.provenance["licence"] = (
        "research / non-commercial: the teacher learned from EmoDB (free for research use)"
        if teachers["strongest"] == "emodb-cnn"
        else ckpt.provenance["licence"]
    )
    ckpt.provenance["notes"] = (
        "teacher chosen by leave-one-speaker-out CCC on EmoDB: "
        + json.dumps({k: teachers[k]["ccc"] for k in ("emodb-cnn", "mfcc-cnn")})
    )
    ckpt.report = {k: v for k, v in report.items() if k != "history"}
    ckpt.report["teacher_selection"] = {
        k: {"ccc_adv": teachers[k]["ccc"], "arousal_check": teachers[k]["arousal_check"]}
        for k in ("emodb-cnn", "mfcc-cnn")
    }
    checkpoint = args.build / "speech" / "speech-adv.pt"
    ckpt.save(checkpoint)
    staging = args.build / "speech" / "bundle"
    if staging.exists():
        shutil.rmtree(staging)
    bundle, _ = build_bundle(
        checkpoint,
        audio,
        staging,
        ExportOptions(profile="hearing-aid-coprocessor", name="speech-adv"),
    )
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(staging, OUT)
    print(
        json.dumps(
            {
                "student_vs_teacher_ccc": report["student_vs_teacher_ccc"],
                "student_vs_labels_ccc": report.get("student_vs_labels_ccc"),
                "cost": report["cost"],
                "bytes": {m.file: m.size_bytes for m in bundle.manifest.models},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
