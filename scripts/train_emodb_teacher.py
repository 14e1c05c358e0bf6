"""Train the EmoDB teacher, judge it and the MFCC-CNN teacher leave-one-speaker-out, keep the stronger.

Writes build/teachers/emodb-cnn.pt (trained on all four speakers) and build/teachers/report.json
with per-teacher CCC against the label-mapped A/D/V and the EmoDB arousal check. Needs
../shared/data/emodb-train and ../shared/teachers/speech-mfcc-cnn.
Usage: python scripts/train_emodb_teacher.py [--shared ../shared] [--out build/teachers]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from distill.audio import load_16k
from distill.metrics import ccc
from distill.teachers.emodb import (
    arousal_check,
    feature_sets,
    loso,
    read_emodb,
    save_teacher,
    train_teacher,
)
from distill.teachers.mfcc_cnn import MfccCnnTeacher

VARIANTS = 4


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared"
    )
    parser.add_argument("--out", type=Path, default=Path("build/teachers"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    corpus = read_emodb(args.shared / "data" / "emodb-train")
    t0 = time.time()
    feats = feature_sets(corpus, VARIANTS)
    print(
        f"features of {len(corpus.files)} files x {VARIANTS + 1} variants in {time.time() - t0:.0f} s",
        flush=True,
    )

    mfcc = MfccCnnTeacher(args.shared / "teachers" / "speech-mfcc-cnn")
    mfcc_pred = mfcc.predict([load_16k(p) for p in corpus.files])
    report = {
        "mfcc-cnn": {
            "ccc": [float(v) for v in ccc(corpus.targets, mfcc_pred)],
            "arousal_check": arousal_check(mfcc_pred[:, 0], corpus.emotions),
            "note": "zero-shot: never trained on EmoDB, so every speaker is held out",
        }
    }
    print("mfcc-cnn", report["mfcc-cnn"], flush=True)

    t0 = time.time()
    result = loso(corpus, feats, on_epoch=None)
    report["emodb-cnn"] = {
        "ccc": result["ccc"],
        "arousal_check": result["arousal_check"],
        "folds": result["folds"],
        "note": "leave-one-speaker-out over speakers 03, 08, 09, 10",
    }
    print("emodb-cnn LOSO", report["emodb-cnn"], f"{time.time() - t0:.0f} s", flush=True)

    net, _ = train_teacher(feats, corpus.targets, list(range(len(corpus.files))))
    args.out.mkdir(parents=True, exist_ok=True)
    save_teacher(net, args.out / "emodb-cnn.pt", report["emodb-cnn"])
    scores = {k: float(np.mean(v["ccc"])) for k, v in report.items()}
    report["strongest"] = max(scores, key=scores.get)
    report["mean_ccc"] = scores
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("strongest:", report["strongest"], scores, flush=True)


if __name__ == "__main__":
    main()
